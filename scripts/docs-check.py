#!/usr/bin/env python3
"""Runs the shell examples of docs/api.md against a real host, in order, so
the document cannot drift from the API (`just docs-check`, part of `just test`).

Every ```sh block is run as written, with four substitutions:
  - `localhost:8080` (and `http://localhost:8080`) becomes the test host;
  - the `budget-host` CLI path becomes the binary under test, pointed at it,
    and `$(cat .data/admin-token)` (where `just run` keeps it) its admin token;
  - a placeholder id such as `0b6f9d1e-…` (an id the document elides) becomes
    the real id of the answer in which the document first showed it, and an
    assignment `BUDGET=0b6f9d1e-…` takes that real id.
Names the document uses without defining (`$GROCERIES`, `$OLD`, `$TXN`, …)
come from a small fixture made through the API itself.

Each command must succeed: an HTTP status in 2xx unless the comment below it
shows another (`# HTTP/1.1 409 …`, `# 204`), and when the comment shows a
JSON answer, every top-level field it names must be in the real answer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"

_spec = importlib.util.spec_from_file_location("api_check", ROOT / "scripts" / "schemathesis.py")
api_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api_check)

STATUS_MARK = "__STATUS__"
PLACEHOLDER = re.compile(r"([0-9a-f]{2,}(?:-[0-9a-f]*)?|bgt_[0-9a-f]*)…")
CLI = re.compile(r'"\$\{CARGO_TARGET_DIR:-target\}/debug/budget-host"|\$host_bin')


@dataclass
class Step:
    """One logical shell line and the comment lines that follow it."""
    line: int
    command: str
    expected: list[str] = field(default_factory=list)


def open_quote(text: str) -> bool:
    """Whether a shell line leaves a quote open (a body spread over lines)."""
    quote = None
    for c in text:
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
    return quote is not None


def blocks(text: str) -> list[list[Step]]:
    out: list[list[Step]] = []
    current: list[Step] | None = None
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if current is None:
            if raw.strip() == "```sh":
                current = []
            continue
        if raw.strip() == "```" and not pending:
            out.append(current)
            current = None
            continue
        stripped = raw.strip()
        if not pending and stripped.startswith("#"):
            if current:
                current[-1].expected.append(stripped[1:].strip())
            continue
        if not pending:
            start = number
        if stripped.endswith("\\") and not open_quote(pending + stripped):
            pending += stripped[:-1] + " "
            continue
        if open_quote(pending + stripped):
            pending += raw + "\n"
            continue
        command = pending + stripped
        pending = ""
        # A trailing comment on a command line is the document's gloss.
        command = re.sub(r"\s+#\s.*$", "", command)
        if command:
            current.append(Step(start, command))
    return out


def top_level_keys(expected: list[str]) -> set[str]:
    """The field names at the outermost level of a JSON answer shown in a
    comment, tolerating the document's elisions (`…`, `{…}`)."""
    text = " ".join(line for line in expected if not line.startswith("(stderr)"))
    if not text.startswith("{"):
        return set()
    keys, depth, i = set(), 0, 0
    while i < len(text):
        c = text[i]
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        elif c == '"':
            end = text.find('"', i + 1)
            if end < 0:
                break
            if depth == 1 and text[end + 1:end + 2] == ":":
                keys.add(text[i + 1:end])
            i = end
        i += 1
    return keys


def expected_status(expected: list[str]) -> int | None:
    for line in expected:
        m = re.match(r"HTTP/1\.1 (\d{3})", line) or re.fullmatch(r"(\d{3})", line)
        if m:
            return int(m.group(1))
    return None


class Runner:
    def __init__(self, base: str, admin_token: str, host_bin: Path):
        self.base = base
        self.host_bin = host_bin
        self.env = dict(os.environ, BUDGET_ADMIN_TOKEN=admin_token, BUDGET_SERVER=base)
        self.ids: dict[str, str] = {}  # placeholder prefix -> real value
        self.checked = 0
        self.fixture_budget: str | None = None

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        request = urllib.request.Request(
            self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json",
                     "authorization": f"Bearer {token or self.env['TOKEN']}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def fixture(self) -> None:
        """What the document uses before (or without) making it: a budget
        and an account, categories, a second account to close, a
        transaction to edit. Names the document assigns later are replaced
        by its own then."""
        if "BUDGET" not in self.env:
            self.env["BUDGET"] = self.api("POST", "/v1/budgets", {"name": "Fixture", "currency": "EUR"})["id"]
        budget = self.env["BUDGET"]
        if "ACCOUNT" not in self.env:
            self.env["ACCOUNT"] = self.api("POST", f"/v1/budgets/{budget}/accounts",
                                           {"name": "Fixture checking", "type": "checking",
                                            "opening_balance": "500.00", "opening_date": "2026-11-01"})["id"]
        group = self.api("POST", f"/v1/budgets/{budget}/category-groups", {"name": "Everyday"})
        for name in ("GROCERIES", "HOUSEHOLD", "DEBT", "RENT"):
            category = self.api("POST", f"/v1/budgets/{budget}/categories",
                                {"group_id": group["id"], "name": name.title()})
            self.env[name] = category["id"]
        old = self.api("POST", f"/v1/budgets/{budget}/accounts",
                       {"name": "Old savings", "type": "savings", "opening_balance": "25.00",
                        "opening_date": "2026-11-01"})
        self.env["OLD"] = old["id"]
        txn = self.api("POST", f"/v1/budgets/{budget}/transactions",
                       {"account_id": self.env["ACCOUNT"], "date": "2026-11-03", "amount": "-3.50",
                        "payee": "Cafe"})
        self.env["TXN"] = txn["id"]
        self.fixture_budget = budget

    def substitute(self, command: str) -> str:
        command = command.replace("http://localhost:8080", self.base).replace("localhost:8080", self.base)
        command = CLI.sub(str(self.host_bin), command)
        # `just run` keeps the admin token there; this host has its own.
        command = command.replace("$(cat .data/admin-token)", self.env["BUDGET_ADMIN_TOKEN"])

        def real(match: re.Match) -> str:
            prefix = match.group(1)
            if prefix not in self.ids:
                raise AssertionError(f"placeholder {prefix}… appears before any answer showed it")
            return self.ids[prefix]
        return PLACEHOLDER.sub(real, command)

    def learn(self, expected: list[str], answer: dict | None) -> None:
        """Maps the placeholders an expected answer shows to the real values."""
        if not isinstance(answer, dict):
            return
        for line in expected:
            for key, prefix in re.findall(r'"(\w+)":"([0-9a-f]{2,}(?:-[0-9a-f]*)?|bgt_[0-9a-f]*)…"', line):
                if isinstance(answer.get(key), str):
                    self.ids.setdefault(prefix, answer[key])
            # The CLI's aligned lines: `user      3f0c2a4e-… (alice)`, `token     bgt_5b1d…`, `id  9a7e41c2-…`.
            m = re.match(r"(user|token|id)\s+([0-9a-f]{2,}(?:-[0-9a-f]*)?|bgt_[0-9a-f]*)…", line)
            if m:
                key = {"user": "user_id", "token": "token", "id": "token_id"}[m.group(1)]
                if isinstance(answer.get(key), str):
                    self.ids.setdefault(m.group(2), answer[key])

    def run(self, step: Step) -> None:
        command = step.command
        assign = re.fullmatch(r"(\w+)=(\S*…\S*)", command)
        if assign:
            name, value = assign.groups()
            prefix = PLACEHOLDER.search(value)
            if not prefix or prefix.group(1) not in self.ids:
                raise AssertionError(f"line {step.line}: {name}={value}: no answer showed {value}")
            self.env[name] = self.ids[prefix.group(1)]
            return
        if re.fullmatch(r"(export\s+)?API=\S+", command):
            self.env["API"] = self.base
            return
        needed = {a or b for a, b in re.findall(r"\$(\w+)|\$\{(\w+)\}", command)}
        fixture_names = {"BUDGET", "ACCOUNT", "GROCERIES", "HOUSEHOLD", "DEBT", "OLD", "TXN", "RENT"}
        if (needed & fixture_names) - set(self.env) or (
                needed & (fixture_names - {"BUDGET", "ACCOUNT"}) and self.fixture_budget != self.env.get("BUDGET")):
            self.fixture()
        command = self.substitute(command)
        is_cli = str(self.host_bin) in command
        is_curl = command.startswith("curl ")
        if is_cli:
            # Read back the CLI's answer as JSON to learn the ids it printed.
            json_command = command + " --json" if "--json" not in command else command
            result = subprocess.run(["bash", "-c", f"set -euo pipefail; {json_command}"], env=self.env,
                                    capture_output=True, text=True, timeout=60)
            if result.returncode != 0:
                raise AssertionError(f"line {step.line}: {step.command}\n{result.stderr}")
            answer = json.loads(result.stdout.strip().splitlines()[-1]) if "$(" not in command else None
            self.learn(step.expected, answer)
            if answer and "token" in answer:
                self.env.setdefault("TOKEN", answer["token"])
            self.checked += 1
            return
        if is_curl and "-w " not in command:
            command = "curl -w '\\n" + STATUS_MARK + "%{http_code}' " + command[len("curl "):]
        script = f"set -euo pipefail; {command}"
        assigned = re.match(r"(?:export\s+)?(\w+)=", command)
        if assigned and not is_curl:
            # An assignment: keep the variable for the next lines.
            script += f"; printf '%s' \"${assigned.group(1)}\""
        result = subprocess.run(["bash", "-c", script], env=self.env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"line {step.line}: {step.command}\nexit {result.returncode}: {result.stderr}")
        if not is_curl:
            name = re.match(r"(?:export\s+)?(\w+)=", command)
            if name:
                self.env[name.group(1)] = result.stdout
                if name.group(1) == "TOKEN" and not result.stdout.startswith("bgt_"):
                    raise AssertionError(f"line {step.line}: TOKEN is {result.stdout!r}")
            self.checked += 1
            return
        output = result.stdout
        status = None
        if STATUS_MARK in output:
            output, status_text = output.rsplit(STATUS_MARK, 1)
            status = int(status_text.strip())
            output = output.rstrip("\n")
        elif output.startswith("HTTP/"):
            status = int(output.split()[1])
        elif re.fullmatch(r"\d{3}\n?", output):
            status = int(output)
        want = expected_status(step.expected)
        if status is None:
            raise AssertionError(f"line {step.line}: no HTTP status from {step.command}")
        if want is not None and status != want:
            raise AssertionError(f"line {step.line}: expected {want}, got {status}: {output[:400]}")
        if want is None and not 200 <= status < 300:
            raise AssertionError(f"line {step.line}: got {status}: {output[:400]}")
        answer = None
        body = output.split("\r\n\r\n", 1)[1] if output.startswith("HTTP/") and "\r\n\r\n" in output else output
        if body.strip().startswith("{"):
            try:
                answer = json.loads(body)
            except json.JSONDecodeError as error:
                raise AssertionError(f"line {step.line}: not JSON ({error}): {body[:400]}") from None
        keys = top_level_keys(step.expected)
        if keys:
            if not isinstance(answer, dict):
                raise AssertionError(f"line {step.line}: expected a JSON object, got {body[:400]}")
            missing = keys - set(answer)
            if missing:
                raise AssertionError(f"line {step.line}: the answer lacks {sorted(missing)}: {body[:400]}")
        self.learn(step.expected, answer)
        self.checked += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host-bin", required=True, type=Path)
    args = parser.parse_args()
    host_bin = args.host_bin.resolve()
    steps = blocks(DOC.read_text())
    with tempfile.TemporaryDirectory(prefix="docs-check-") as tmp:
        work = Path(tmp)
        apps = work / "apps.toml"
        api_check.write_apps(apps, with_api_docs=api_check.component_path("api_docs").exists())
        with api_check.running_host(work, apps, host_bin, f"docscheck{os.getpid()}") as (base, admin, host_log):
            runner = Runner(base, admin, host_bin)
            try:
                for block in steps:
                    for step in block:
                        runner.run(step)
                # The shared development session once logged this twice a second.
                noise = [line for line in host_log.read_text(errors="replace").splitlines()
                         if "there is no transaction in progress" in line]
                if noise:
                    raise AssertionError(f"the host log has {len(noise)} 'no transaction in progress' warnings")
            except (AssertionError, subprocess.TimeoutExpired, OSError, ValueError) as error:
                api_check.print_host_errors(host_log)
                print(f"docs-check: docs/api.md: {error}", file=sys.stderr)
                print(f"docs-check: {runner.checked} passed, 1 failed")
                return 1
    print(f"docs-check: docs/api.md: {runner.checked} passed, 0 failed ({len(steps)} shell blocks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
