namespace AoaiProxy.Affinity;

/// <summary>What routing learned about a request's objects.</summary>
/// <param name="Kind">Inference, read, or stateful (the replay rule).</param>
/// <param name="Ids">The object ids it names, outermost first.</param>
/// <param name="Creates">A good answer carries the id of an object just created.</param>
/// <param name="Deleted">The object a good answer deletes, if any.</param>
/// <param name="Owner">The backend holding <paramref name="Holder"/>, when known: the only one the request goes to.</param>
/// <param name="Holder">The id that bound the request to <paramref name="Owner"/>.</param>
/// <param name="Probing">It names objects nobody recorded: backends are tried in turn on 404.</param>
/// <param name="MergesList">A first page of a list without an id: every backend answers, merged (<see cref="ListMerge"/>).</param>
/// <param name="Cursor">The id a later list page continues after (or before), also in <paramref name="Ids"/>; a good answer does not prove where it is.</param>
internal sealed record RequestRoute(
    RequestKind Kind, IReadOnlyList<string> Ids, bool Creates, string? Deleted, int? Owner = null, string? Holder = null, bool Probing = false,
    bool MergesList = false, string? Cursor = null);
