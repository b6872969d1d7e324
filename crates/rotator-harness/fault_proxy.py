"""A mitmproxy addon that sits between the function and moto and injects AWS faults on demand.

The harness runs it as
`mitmdump --mode reverse:http://127.0.0.1:<moto> --set keep_host_header=true -s fault_proxy.py`.
Every request is named `<service>:<Operation>` and forwarded to moto unless a rule says
otherwise. The test controls it over HTTP on the same port, through paths that are answered
here and never forwarded:

- `POST /__faults/rules` with `{"rules": [...]}` replaces the rule list. A rule is
  `{"op": "iam:CreateAccessKey", "fault": "lose-answer", "times": 1, "skip": 0}`; `op` may be
  a shell pattern (`iam:*`), `times` null means every time, `code`, `status` and `message`
  choose the error of `refuse` (and of `error-after`).
- `POST /__faults/propagation` with `{"seconds": N}` (or `"forever"`, or 0 for off): a key made
  by `CreateAccessKey` through this proxy is refused by STS (`InvalidClientTokenId`) until N
  seconds after it was made, as IAM's eventual consistency does.
- `GET /__faults/log`: every operation seen, in order, with the fault applied to it, whether it
  reached moto and what moto answered; also the rules with their remaining counters.
- `GET /__faults/issued`: every access key that moto issued through this proxy (id, secret,
  time), lost answers included: for the tests' scan for leaked secrets.
- `POST /__faults/reset`: no rules, no propagation delay, an empty log (issued keys are kept).

Faults:
- `lose-answer`: forward, let moto act, then kill the connection instead of answering;
- `throttle`: answer `Throttling` (query protocols) or `ThrottlingException` (JSON) without
  forwarding;
- `error-after`: forward, let moto act, then answer 500 `InternalFailure` instead;
- `refuse`: answer the rule's error (for example `LimitExceeded` 409) without forwarding.
"""

import fnmatch
import json
import re
import time
from urllib.parse import parse_qs

from mitmproxy import http

CONTROL = "/__faults/"
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")


def credential(request):
    """The access key id and the service of the request's SigV4 credential scope."""
    match = CREDENTIAL.search(request.headers.get("Authorization", ""))
    return (match.group(1), match.group(2)) if match else (None, None)


def operation(request):
    """The request's `<service>:<Operation>` (or `<service>:?` when it cannot be told)."""
    _, service = credential(request)
    target = request.headers.get("X-Amz-Target")
    if target:
        prefix, _, name = target.partition(".")
        return f"{service or prefix.lower()}:{name}"
    path = request.path.split("?", 1)[0]
    if path.startswith("/v2/email/"):
        if request.method == "POST" and path == "/v2/email/outbound-emails":
            return "sesv2:SendEmail"
        return f"sesv2:{request.method} {path}"
    form = parse_qs(request.get_text(strict=False) or "")
    query = parse_qs(request.path.split("?", 1)[1]) if "?" in request.path else {}
    action = (form.get("Action") or query.get("Action") or ["?"])[0]
    return f"{service or '?'}:{action}"


def is_json(request):
    return "X-Amz-Target" in request.headers or request.path.startswith("/v2/")


def error_response(request, status, code, message, sender=True):
    """An error answer in the protocol of the request: XML for the query protocols, JSON for
    Secrets Manager and SESv2."""
    if is_json(request):
        body = json.dumps({"__type": code, "message": message})
        return http.Response.make(
            status,
            body,
            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-errortype": code},
        )
    kind = "Sender" if sender else "Receiver"
    body = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error>"
        f"<RequestId>00000000-0000-0000-0000-fault0proxy0</RequestId></ErrorResponse>"
    )
    return http.Response.make(status, body, {"Content-Type": "text/xml"})


class FaultProxy:
    def __init__(self):
        self.rules = []
        self.entries = []
        self.propagation = 0.0
        self.issued = {}

    # The control API.

    def control(self, flow):
        path = flow.request.path.split("?", 1)[0][len(CONTROL):]
        body = flow.request.get_text(strict=False) or "{}"
        if flow.request.method == "POST" and path == "rules":
            self.rules = [dict(rule) for rule in json.loads(body).get("rules", [])]
            for rule in self.rules:
                rule.setdefault("times", 1)
                rule.setdefault("skip", 0)
            answer = {"rules": self.rules}
        elif flow.request.method == "POST" and path == "propagation":
            seconds = json.loads(body).get("seconds", 0)
            self.propagation = float("inf") if seconds == "forever" else float(seconds or 0)
            answer = {"seconds": seconds}
        elif flow.request.method == "POST" and path == "reset":
            self.rules, self.entries, self.propagation = [], [], 0.0
            answer = {"reset": True}
        elif path == "log":
            answer = {"entries": self.entries, "rules": self.rules}
        elif path == "issued":
            answer = {
                "keys": [
                    {"id": key, "secret": secret, "created": created}
                    for key, (created, secret) in self.issued.items()
                ]
            }
        else:
            flow.response = http.Response.make(404, f"no control path {path}")
            return
        flow.response = http.Response.make(
            200, json.dumps(answer), {"Content-Type": "application/json"}
        )

    # Rules.

    def take_rule(self, op):
        """The first rule for `op` that still applies, with its counters advanced; None when
        no rule fires for this request (a rule still skipping lets it through)."""
        for rule in self.rules:
            if not fnmatch.fnmatchcase(op, rule["op"]):
                continue
            if rule["times"] is not None and rule["times"] <= 0:
                continue
            if rule["skip"] > 0:
                rule["skip"] -= 1
                return None
            if rule["times"] is not None:
                rule["times"] -= 1
            return rule
        return None

    def not_yet_propagated(self, request):
        key, _ = credential(request)
        issued = self.issued.get(key)
        return issued is not None and time.time() < issued[0] + self.propagation

    # mitmproxy's hooks.

    def request(self, flow):
        if flow.request.path.startswith(CONTROL):
            self.control(flow)
            return
        op = operation(flow.request)
        entry = {
            "seq": len(self.entries),
            "time": time.time(),
            "op": op,
            "fault": None,
            "forwarded": True,
            "moto_status": None,
        }
        self.entries.append(entry)
        flow.metadata["fault_entry"] = entry
        if op == "sts:GetCallerIdentity" and self.not_yet_propagated(flow.request):
            entry.update(fault="propagation", forwarded=False)
            flow.response = error_response(
                flow.request,
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
            return
        rule = self.take_rule(op)
        if rule is None:
            return
        entry["fault"] = rule["fault"]
        if rule["fault"] == "throttle":
            entry["forwarded"] = False
            code = "ThrottlingException" if is_json(flow.request) else "Throttling"
            flow.response = error_response(flow.request, 400, code, "Rate exceeded")
        elif rule["fault"] == "refuse":
            entry["forwarded"] = False
            flow.response = error_response(
                flow.request,
                int(rule.get("status", 400)),
                rule.get("code", "AccessDenied"),
                rule.get("message", "Refused by the fault proxy"),
            )
        elif rule["fault"] in ("lose-answer", "error-after"):
            flow.metadata["fault_rule"] = rule
        else:
            entry["fault"] = f"unknown fault {rule['fault']!r}"

    def response(self, flow):
        entry = flow.metadata.get("fault_entry")
        if entry is None or not entry["forwarded"]:
            return
        entry["moto_status"] = flow.response.status_code
        if entry["op"] == "iam:CreateAccessKey" and flow.response.status_code == 200:
            text = flow.response.get_text(strict=False) or ""
            key = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", text)
            secret = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", text)
            if key:
                self.issued[key.group(1)] = (time.time(), secret.group(1) if secret else "")
        rule = flow.metadata.get("fault_rule")
        if rule is None:
            return
        if rule["fault"] == "lose-answer":
            flow.kill()
        else:
            flow.response = error_response(
                flow.request,
                int(rule.get("status", 500)),
                rule.get("code", "InternalFailure"),
                rule.get("message", "We encountered an internal error. Please try again."),
                sender=False,
            )


addons = [FaultProxy()]
