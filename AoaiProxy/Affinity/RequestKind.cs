namespace AoaiProxy.Affinity;

/// <summary>What a request is, as far as stateful objects go.</summary>
internal enum RequestKind
{
    /// <summary>Inference (chat, completions, embeddings, images, audio, responses): may fail over after a 5xx.</summary>
    Inference,

    /// <summary>Reads objects (GET, HEAD, OPTIONS) without changing them.</summary>
    Read,

    /// <summary>Creates or changes a stateful object (files, batches, fine-tuning, assistants, threads, vector stores...).</summary>
    Stateful,
}
