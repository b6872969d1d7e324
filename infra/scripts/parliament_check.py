"""Lints the policy documents of a directory with parliament and reports every finding that infra/parliament.yaml does not justify; exits 1 if any is left."""
import json
import os
import re
import sys

import yaml
from parliament import analyze_policy_string, config, enhance_finding


def covered(finding, exceptions):
    """The reason of the first exception that covers the finding, or None."""
    name = os.path.basename(str(finding.location.get("filepath", "")))
    actions = finding.detail if isinstance(finding.detail, list) else []
    for exception in exceptions.get(finding.issue, []):
        if not re.fullmatch(exception["file"], name):
            continue
        if "actions" in exception and not (actions and all(re.fullmatch(exception["actions"], a) for a in actions)):
            continue
        if "detail" in exception and exception["detail"] != finding.detail:
            continue
        return exception["reason"]
    return None


def main(directory, exceptions_file):
    with open(exceptions_file, encoding="utf-8") as f:
        exceptions = yaml.safe_load(f) or {}
    for issue, entries in exceptions.items():
        for entry in entries:
            if not entry.get("reason") or not entry.get("file"):
                print(f"{exceptions_file}: an exception of {issue} lacks its file or its reason", file=sys.stderr)
                return 2
    left, justified, files = [], 0, 0
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        files += 1
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8") as f:
            policy = analyze_policy_string(f.read(), path, config=config)
        for finding in policy.findings:
            finding = enhance_finding(finding)
            if covered(finding, exceptions) is None:
                left.append(finding)
            else:
                justified += 1
    for finding in left:
        print(
            json.dumps(
                {
                    "issue": finding.issue,
                    "severity": finding.severity,
                    "title": finding.title,
                    "detail": finding.detail,
                    "file": os.path.basename(str(finding.location.get("filepath", ""))),
                    "line": finding.location.get("line"),
                }
            )
        )
    print(f"parliament: {files} policy documents, {justified} justified findings, {len(left)} left", file=sys.stderr)
    return 1 if left or files == 0 else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python parliament_check.py POLICY_DIR parliament.yaml", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
