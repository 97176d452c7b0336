// Fake Azure OpenAI backend for the streaming and upload scenarios of run.sh (the request/response scenario uses nginx).
//   node backend.mjs <port> [chunks=50] [gapMs=200]
// POST .../chat/completions  -> server-sent events: <chunks> chat.completion.chunk events <gapMs> apart, then [DONE].
// POST .../audio/transcriptions (or anything else) -> reads the whole body, answers {"bytes":N} so the client can check
// that every byte arrived.
import http from 'node:http';

const port = Number(process.argv[2]);
const chunks = Number(process.argv[3] ?? 50);
const gapMs = Number(process.argv[4] ?? 200);
const chunk = (i) => 'data: ' + JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1732700000, model: 'gpt-4o-mini',
  choices: [{ index: 0, delta: { content: `token ${i} ` }, finish_reason: null }],
}) + '\n\n';

const server = http.createServer((req, res) => {
  if (req.url.includes('/chat/completions')) {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      let sent = 0;
      const write = () => {
        if (res.destroyed) return;
        res.write(chunk(sent++));
        if (sent < chunks) {
          setTimeout(write, gapMs);
        } else {
          res.end('data: [DONE]\n\n');
        }
      };
      write();
    });
    return;
  }

  let bytes = 0;
  req.on('data', (b) => { bytes += b.length; });
  req.on('end', () => {
    const body = JSON.stringify({ text: 'ok', bytes });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 120_000;
server.requestTimeout = 0;
server.headersTimeout = 60_000;
server.listen(port, '127.0.0.1', 4096);
