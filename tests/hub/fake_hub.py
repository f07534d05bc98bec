"""A fake Hugging Face Hub on 127.0.0.1, in a thread: the endpoints huggingface_hub (0.2x-0.3x)
calls for create_repo, upload_folder and hf_hub_download / list_repo_files, answered from
memory. Like the real Hub, preupload sends *.safetensors to LFS (the batch API, then one
PUT of the file, "basic" transfer; Xet is never chosen) and the other files travel base64
in the commit's ndjson. No auth: any token is taken; every repo has one branch, main."""
import base64
import hashlib
import http.server
import json
import threading
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict[str, bytes]] = {}  # "owner/name" -> path -> content (branch main only)
        self.commits: dict[str, str] = {}  # "owner/name" -> its last commit's oid
        self.private: dict[str, bool] = {}
        self.lfs: dict[str, bytes] = {}  # sha256 -> content, PUT before the commit names it
        self.requests: list[str] = []  # "METHOD /path", in order
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _route(self, method):
                path = unquote(urlsplit(self.path).path)
                hub.requests.append(f"{method} {path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = hub.answer(method, path, body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(payload)

            def do_GET(self):
                self._route("GET")

            def do_HEAD(self):
                self._route("HEAD")

            def do_POST(self):
                self._route("POST")

            def do_PUT(self):
                self._route("PUT")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def put(self, repo_id: str, files: dict[str, bytes]) -> None:
        """A repo made by hand (e.g. one holding only a pickle), committed at once."""
        self.repos.setdefault(repo_id, {}).update(files)
        self._commit(repo_id)

    def _commit(self, repo_id: str) -> str:
        digest = hashlib.sha1(repr(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in self.repos[repo_id].items()))
                              .encode() + str(len(self.requests)).encode())
        self.commits[repo_id] = digest.hexdigest()
        return self.commits[repo_id]

    @staticmethod
    def _json(status: int, value, headers=None):
        return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(value).encode()

    def answer(self, method: str, path: str, body: bytes):
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request['organization']}/{request['name']}" if request.get("organization") else request["name"]
            if repo_id in self.repos:
                return self._json(409, {"error": "You already created this model repo"})
            self.repos[repo_id], self.private[repo_id] = {}, bool(request.get("private"))
            self._commit(repo_id)
            return self._json(200, {"url": f"{self.url}/{repo_id}"})
        if method == "POST" and path == "/api/validate-yaml":
            return self._json(200, {})
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            repo_id, action = "/".join(parts[2:4]), parts[4]
            if repo_id not in self.repos:
                return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            if method == "POST" and action == "preupload":
                files = json.loads(body)["files"]
                return self._json(200, {"files": [{"path": f["path"], "shouldIgnore": False, "uploadMode":
                                                   "lfs" if f["path"].endswith(".safetensors") else "regular"}
                                                  for f in files]})
            if method == "POST" and action == "commit":
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        self.repos[repo_id][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    elif item["key"] == "lfsFile":
                        if item["value"]["oid"] not in self.lfs:
                            return self._json(400, {"error": f"LFS object {item['value']['oid']} was not uploaded"})
                        self.repos[repo_id][item["value"]["path"]] = self.lfs[item["value"]["oid"]]
                    elif item["key"] != "header":
                        return self._json(400, {"error": f"the fake Hub takes no {item['key']}"})
                oid = self._commit(repo_id)
                return self._json(200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid})
            if method == "GET" and action == "tree":
                return self._json(200, [{"type": "file", "path": p, "size": len(v), "oid": hashlib.sha1(v).hexdigest()}
                                        for p, v in sorted(self.repos[repo_id].items())])
        if method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            objects = json.loads(body)["objects"]
            return self._json(200, {"transfer": "basic", "objects": [
                {"oid": o["oid"], "size": o["size"], "actions": {"upload": {"href": f"{self.url}/lfs/{o['oid']}"}}}
                for o in objects]})
        if method == "PUT" and parts[0] == "lfs":
            if hashlib.sha256(body).hexdigest() != parts[1]:
                return self._json(400, {"error": "the content does not match its oid"})
            self.lfs[parts[1]] = body
            return self._json(200, {})
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("HEAD", "GET"):
            repo_id, filename = "/".join(parts[:2]), "/".join(parts[4:])
            if repo_id not in self.repos:
                return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            commit = {"X-Repo-Commit": self.commits[repo_id]}
            if filename not in self.repos[repo_id]:
                return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound", **commit})
            content = self.repos[repo_id][filename]
            etag = f'"{hashlib.sha256(content).hexdigest()}"'
            return 200, {"ETag": etag, **commit, "Content-Type": "application/octet-stream"}, content
        return self._json(404, {"error": f"the fake Hub has no {method} {path}"})
