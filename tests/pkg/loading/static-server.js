// A tiny static file server for the loading checks.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".css": "text/css",
};

export function serveStatic(root) {
    const server = createServer((req, res) => {
        const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
        let file = normalize(join(root, path));
        if (!file.startsWith(normalize(root + sep)) && file !== normalize(root)) {
            res.writeHead(403).end();
            return;
        }
        try {
            if (statSync(file).isDirectory()) file = join(file, "index.html");
            statSync(file);
        } catch {
            res.writeHead(404).end("not found");
            return;
        }
        res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
        createReadStream(file).pipe(res);
    });
    return new Promise((resolve) => {
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address();
            resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
        });
    });
}
