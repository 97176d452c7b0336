using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class ReleasePlannerTests
{
    private const int Stays = ReleasePlanner.Stays;

    public static TheoryData<string, string, int[]> Releases => new()
    {
        // queue (costs, in arrival order), rooms (tokens per backend: "-" closed, "*" unbounded), backend per request
        { "1000", "5000", [0] },
        { "1000,1000,1000", "2500", [0, 0, Stays] },
        // Each to the backend with the most tokens left, so the load follows the capacity.
        { "1000,1000,1000", "2500,2000", [0, 1, 0] },
        // Closed backends take nothing; unbounded room takes everything.
        { "1000,1000", "-,*", [1, 1] },
        { "1000", "-,-", [Stays] },
        // The head fits nowhere now: it keeps its place, and a smaller one behind it takes the window's last tokens.
        { "4000,1000,3000,500", "2000", [Stays, 0, Stays, 0] },
        // A request of no known cost fits any open backend.
        { "0,0", "0", [0, 0] },
    };

    [Theory]
    [MemberData(nameof(Releases))]
    public void Plan_QueueAndRooms_FirstComeFirstServedIntoTheMostRoom(string costs, string rooms, int[] expected)
    {
        var queue = costs.Split(',').Select(c => new WaitingRequest(long.Parse(c, System.Globalization.CultureInfo.InvariantCulture), null)).ToArray();
        var room = rooms.Split(',').Select(r => r switch
        {
            "-" => new BackendRoom(false, null, null),
            "*" => new BackendRoom(true, null, null),
            _ => new BackendRoom(true, long.Parse(r, System.Globalization.CultureInfo.InvariantCulture), null),
        }).ToArray();

        Assert.Equal(expected, ReleasePlanner.Plan(queue, room));
    }

    [Fact]
    public void Plan_RequestsLeft_BoundTheReleasesWhateverTheTokens()
    {
        WaitingRequest[] queue = [new(10, null), new(10, null), new(10, null)];

        Assert.Equal([0, 0, Stays], ReleasePlanner.Plan(queue, [new BackendRoom(true, null, Requests: 2)]));
    }

    [Fact]
    public void Plan_Eligibility_ARequestGoesOnlyWhereItMay()
    {
        WaitingRequest[] queue = [new(10, [false, true]), new(10, [true, false])];

        Assert.Equal([1, 0], ReleasePlanner.Plan(queue, [new BackendRoom(true, 1000, null), new BackendRoom(true, 10, null)]));
    }

    [Fact]
    public void Plan_Released_TheirCostIsTakenFromTheRoom()
    {
        var rooms = new[] { new BackendRoom(true, 5000, 10) };

        ReleasePlanner.Plan([new WaitingRequest(1200, null), new WaitingRequest(800, null)], rooms);

        Assert.Equal(new BackendRoom(true, 3000, 8), rooms[0]);
    }
}
