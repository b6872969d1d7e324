"""A mitmproxy addon between the function and cargo-lambda's Runtime API emulator that gives
each invocation a real deadline.

cargo-lambda 1.9.2's emulator (`cargo lambda watch`) sends the constant
`Lambda-Runtime-Deadline-Ms: 600000` with every event, which the runtime reads as a time in
January 1970, and enforces `--timeout N` only as an HTTP timeout on its own endpoints (the
caller of Invoke gets a 408 after N seconds; the function keeps running). Lambda sends the
epoch milliseconds at which it will stop the invocation: this addon writes that value,
`deadline_secs` after the event is handed to the function, into the answer of
`GET .../runtime/invocation/next`.
"""

import time


class RuntimeDeadline:
    def load(self, loader):
        loader.add_option(
            "deadline_secs", int, 900, "seconds from an event's delivery to its deadline"
        )

    def response(self, flow):
        from mitmproxy import ctx

        if flow.request.path.endswith("/runtime/invocation/next") and flow.response:
            if "Lambda-Runtime-Deadline-Ms" in flow.response.headers:
                deadline = int((time.time() + ctx.options.deadline_secs) * 1000)
                flow.response.headers["Lambda-Runtime-Deadline-Ms"] = str(deadline)


addons = [RuntimeDeadline()]
