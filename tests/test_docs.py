"""The documentation a user reads first: every relative link of README.md and docs/ reaches a file (and a heading,
where it names one), the README stays a front page, and CI runs the test command the README gives."""
import glob
import os
import re

from helpers import ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path):
    """GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -."""
    with open(path, encoding="utf-8") as f:
        headings = [line.lstrip("#").strip() for line in f if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def documents():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def test_every_relative_link_of_the_readme_and_docs_resolves():
    checked, broken = 0, []
    for doc in documents():
        with open(doc, encoding="utf-8") as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.S)  # code blocks hold no links
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            checked += 1
            if not os.path.exists(resolved):
                broken.append(f"{os.path.relpath(doc, ROOT)}: {target} (no such file)")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                broken.append(f"{os.path.relpath(doc, ROOT)}: {target} (no such heading)")
    assert checked > 20 and broken == []


def test_the_readme_is_a_front_page_and_ci_runs_its_test_command():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert len(readme.splitlines()) <= 200
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci_commands = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert "bash run_tests.sh" in ci_commands and "bash run_tests.sh       #" in readme
