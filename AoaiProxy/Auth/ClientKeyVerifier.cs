using System.Security.Cryptography;
using System.Text;

namespace AoaiProxy.Auth;

/// <summary>Decides whether a presented value is one of the configured client keys (Proxy:Auth:ClientKeys).</summary>
internal interface IClientKeyVerifier
{
    /// <summary>
    /// The position of the key <paramref name="presented"/> equals in Proxy:Auth:ClientKeys, or -1. The position names
    /// the caller in metrics without revealing the key.
    /// </summary>
    int IndexOf(string presented);
}

/// <summary>
/// Compares in constant time: both sides are hashed with SHA-256 first, so the comparison always covers 32 bytes and
/// neither the length nor the position of the first difference shows in the timing. Every key is compared, so the time
/// does not tell which key matched either. Several keys at once let a key be rotated without downtime.
/// </summary>
internal sealed class ClientKeyVerifier : IClientKeyVerifier
{
    private readonly byte[][] _hashes;

    public ClientKeyVerifier(IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _hashes = keys.Select(Hash).ToArray();
    }

    /// <summary>True when <paramref name="presented"/> equals one of the keys.</summary>
    public bool IsValid(string presented) => IndexOf(presented) >= 0;

    public int IndexOf(string presented)
    {
        ArgumentNullException.ThrowIfNull(presented);
        var candidate = Hash(presented);
        var index = -1;
        for (var i = 0; i < _hashes.Length; i++)
        {
            // Every key is compared; the match only selects which position is kept.
            var equal = CryptographicOperations.FixedTimeEquals(candidate, _hashes[i]);
            index = equal ? i : index;
        }

        return index;
    }

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));
}
