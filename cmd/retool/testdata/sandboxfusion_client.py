"""A SandboxFusion client written the way verl's sandbox-fusion utilities
and code-interpreter tool are: the same payload, headers, HTTP timeout
(compile + run + 10 s), retries only on 504, and the same fields read.
Uses only the standard library. Prints one JSON line of what it saw."""
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

URL = sys.argv[1].rstrip("/")
API_TIMEOUT, MAX_RETRIES = 10, 3


def call_sandbox_api(code, stdin=None, compile_timeout=10, run_timeout=5, memory_limit_mb=1024, language="python"):
    payload = json.dumps({
        "compile_timeout": compile_timeout, "run_timeout": run_timeout, "code": code, "stdin": stdin,
        "memory_limit_MB": memory_limit_mb, "language": language, "files": {}, "fetch_files": [],
    }).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "X-Request-Id": str(uuid.uuid4())}
    for attempt in range(MAX_RETRIES):
        req = urllib.request.Request(URL + "/run_code", data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=compile_timeout + run_timeout + API_TIMEOUT) as resp:
                return json.loads(resp.read()), None
        except urllib.error.HTTPError as e:
            if e.code == 504 and attempt < MAX_RETRIES - 1:
                time.sleep(1)
                continue
            return None, "HTTP %d: %s" % (e.code, e.read().decode())
    return None, "retries exhausted"


def tool_output(result):
    """What verl's code interpreter tool hands back to the model."""
    run = result.get("run_result") or {}
    if run.get("status") == "Finished":
        return (run.get("stdout") or "") + (run.get("stderr") or "")
    return "no stdout here"


seen = {}
r, err = call_sandbox_api("print(6*7)")
seen["print"] = {"status": r["status"], "run_status": r["run_result"]["status"], "return_code": r["run_result"]["return_code"],
                 "execution_time_is_float": isinstance(r["run_result"]["execution_time"], float),
                 "compile_result": r["compile_result"], "tool": tool_output(r)}
r, err = call_sandbox_api("print(input()[::-1])", stdin="olleh\n")
seen["stdin"] = tool_output(r)
r, err = call_sandbox_api("1/0")
seen["error"] = {"status": r["status"], "return_code": r["run_result"]["return_code"], "tool_has_traceback": "ZeroDivisionError" in tool_output(r)}
r, err = call_sandbox_api("import time\nprint('partial', flush=True)\ntime.sleep(10)", run_timeout=1)
seen["timeout"] = {"status": r["status"], "run_status": r["run_result"]["status"], "stdout": r["run_result"]["stdout"], "tool": tool_output(r)}
r, err = call_sandbox_api("factorint(2**64-1)", language="sympy")
seen["sympy"] = tool_output(r)
r, err = call_sandbox_api("print(1)", language="brainfuck")
seen["unknown_language"] = err[:8] if err else r
with urllib.request.urlopen(URL + "/v1/ping", timeout=5) as resp:
    seen["ping"] = json.loads(resp.read())
print(json.dumps(seen, sort_keys=True))
