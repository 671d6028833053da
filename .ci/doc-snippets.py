#!/usr/bin/env python3
"""Type-checks the Swift blocks of the documentation; .ci/doc-snippets runs it (read the
convention there). Arguments: the modules folder of a build, the folder of the
PackageDescription module, then the clang flags (-Xcc -fmodule-map-file=… -I …) for the
C modules of that build."""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))

FENCE_OPEN = re.compile(r"^(\s*)```\s*swift\b")
FENCE_CLOSE = re.compile(r"^\s*```\s*$")
SNIPPET = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
PRELUDE_OPEN = re.compile(r"^\s*<!--\s*prelude:?(.*)$")
IMPORT = re.compile(r"^(@\w+\s+)*(public\s+|internal\s+|package\s+)?import\s+\w")
DIRECTIVE = re.compile(r"^#(if|elseif|else|endif)\b")
DIAGNOSTIC = re.compile(r"^(.*?\.swift):(\d+):(\d+): (error|warning|note): (.*)$")
KINDS = {"top-level", "manifest", "skip"}

# Warnings a documentation block may leave: it shows a value, a result, a configuration,
# without going on to use it. Every other warning (deprecated API, a concurrency problem,
# a needless `try` or `await`…) fails the check like an error.
TOLERATED = re.compile(
    r"was never used|is unused|was written to, but never read|never used; consider replacing"
)


def markdown_files():
    """README.md, every Markdown file under Docs/ and the catalogs' own pages (their
    symbolic links to Docs/ are the same files)."""
    files = ["README.md"]
    for top in ("Docs", "Sources"):
        for folder, subfolders, names in os.walk(os.path.join(ROOT, top)):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "Packages")
            for name in sorted(names):
                path = os.path.join(folder, name)
                if not name.endswith(".md") or os.path.islink(path):
                    continue
                if top == "Sources" and ".docc" not in folder:
                    continue
                files.append(os.path.relpath(path, ROOT))
    return files


class Block:
    def __init__(self, path, line, kinds, lines):
        self.path, self.line, self.kinds, self.lines = path, line, kinds, lines  # line: the fence's


def parse(path):
    """The file's Swift blocks, and its prelude as (markdown line, text) pairs."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read().split("\n")
    blocks, prelude, kinds, problems = [], [], set(), []
    i = 0
    while i < len(text):
        line = text[i]
        m = PRELUDE_OPEN.match(line)
        if m:
            rest = m.group(1)
            if "-->" in rest:  # <!-- prelude: one line -->
                prelude.append((i + 1, rest.split("-->")[0]))
            else:
                if rest.strip():
                    prelude.append((i + 1, rest))
                i += 1
                while i < len(text) and "-->" not in text[i]:
                    prelude.append((i + 1, text[i]))
                    i += 1
                if i == len(text):
                    problems.append(f"{path}: a prelude comment is never closed (-->)")
            i += 1
            continue
        m = SNIPPET.match(line)
        if m:
            kinds = {k.strip() for k in m.group(1).split(",") if k.strip()}
            kinds = {k.split()[0] for k in kinds}  # "skip (why)" -> "skip"
            unknown = kinds - KINDS
            if unknown:
                problems.append(f"{path}:{i + 1}: unknown snippet kind {', '.join(sorted(unknown))}")
            i += 1
            continue
        m = FENCE_OPEN.match(line)
        if m:
            indent = len(m.group(1))
            start = i + 1
            body = []
            i += 1
            while i < len(text) and not FENCE_CLOSE.match(text[i]):
                body.append((i + 1, text[i][indent:] if text[i][:indent].strip() == "" else text[i]))
                i += 1
            blocks.append(Block(path, start, kinds, body))
            kinds = set()
            i += 1
            continue
        if line.strip():
            kinds = set()  # a marker applies to the block right after it (blank lines aside)
        i += 1
    return blocks, prelude, problems


class Source:
    """A generated file: its text, and for each of its lines the markdown line it came
    from (None for the lines the check adds)."""

    def __init__(self, name):
        self.name, self.lines, self.origin = name, [], []

    def add(self, text, origin=None):
        self.lines.append(text)
        self.origin.append(origin)

    def write(self, folder):
        path = os.path.join(folder, self.name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.lines) + "\n")
        return path


class Job:
    """One swiftc run: a markdown file's blocks (or one manifest block)."""

    def __init__(self, path, folder, arguments):
        self.path, self.folder, self.arguments = path, folder, arguments
        self.sources = {}  # file name -> (Source, Block or None)

    def add(self, source, block):
        self.sources[source.name] = (source, block)


def slug(path):
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")


def split_imports(lines):
    """The block's imports (with the `#if canImport(…)` around them), and the rest."""
    header = 0
    for n, t in lines:
        stripped = t.strip()
        if not (stripped == "" or stripped.startswith("//") or IMPORT.match(stripped) or DIRECTIVE.match(stripped)):
            break
        header += 1
    imports = [(n, t) for n, t in lines[:header] if IMPORT.match(t.strip()) or DIRECTIVE.match(t.strip())]
    if not any(IMPORT.match(t.strip()) for _, t in imports):
        return [], lines
    rest = [(n, t) for n, t in lines[:header] if (n, t) not in imports] + lines[header:]
    return imports, rest


def plan(path, blocks, prelude, work, swift_arguments, manifest_arguments):
    jobs = []
    folder = os.path.join(work, slug(path))
    os.makedirs(folder)
    prelude_imports = [(n, t) for n, t in prelude if IMPORT.match(t.strip()) or DIRECTIVE.match(t.strip())]
    job = Job(path, folder, swift_arguments)
    if prelude:
        source = Source("prelude.swift")
        for n, t in prelude:
            source.add(t, n)
        job.add(source, None)
    for block in blocks:
        if "skip" in block.kinds:
            continue
        if "manifest" in block.kinds:
            manifest_folder = os.path.join(folder, f"manifest_L{block.line}")
            os.makedirs(manifest_folder)
            manifest = Job(path, manifest_folder, manifest_arguments)
            source = Source("main.swift")  # top-level code, as SwiftPM compiles a manifest
            whole = any(t.strip() == "import PackageDescription" for _, t in block.lines)
            if not whole:  # the arguments of Package(…) after its name
                source.add("import PackageDescription")
                source.add("let package = Package(")
                source.add('    name: "App",')
            for n, t in block.lines:
                source.add(t, n)
            if not whole:
                source.add(")")
            manifest.add(source, block)
            jobs.append(manifest)
            continue
        source = Source(f"{slug(path)}_L{block.line}.swift")
        imports, rest = split_imports(block.lines)
        for n, t in imports or prelude_imports:
            source.add(t, n if imports else None)
        if "top-level" in block.kinds:
            for n, t in rest:
                source.add(t, n)
        else:  # statements and local declarations, in a function of their own
            source.add(f"func snippet_L{block.line}() async throws {{")
            for n, t in rest:
                source.add(t, n)
            source.add("}")
        job.add(source, block)
    if any(b is not None for _, b in job.sources.values()):
        jobs.append(job)
    return jobs


def run(job):
    paths = [s.write(job.folder) for s, _ in job.sources.values()]
    result = subprocess.run(
        ["swiftc", "-typecheck", "-wmo", "-diagnostic-style", "llvm", "-module-name", "Snippets"]
        + job.arguments + paths,
        cwd=job.folder, capture_output=True, text=True,
        env=dict(os.environ, TMPDIR=job.folder),  # the driver's temporary folders go with ours
    )
    return job, result


def report(job, result):
    """The diagnostics that fail the check, mapped back to the markdown; empty when the
    job passed."""
    failures, current = [], None
    for line in (result.stdout + result.stderr).splitlines():
        m = DIAGNOSTIC.match(line)
        if not m:
            if current is not None and line.strip():
                current.append("    " + line)
            continue
        file, number, column, severity, message = m.groups()
        name = os.path.basename(file)
        if name not in job.sources:
            where = f"{job.path}: (in {file}:{number})"
        else:
            source, block = job.sources[name]
            origin = source.origin[int(number) - 1] if int(number) <= len(source.origin) else None
            if origin is None:
                origin = block.line if block is not None else "prelude"
            where = f"{job.path}:{origin}:{column}"
        if severity == "note":
            if current is not None:
                current.append(f"  {where}: note: {message}")
            continue
        if severity == "warning" and TOLERATED.search(message):
            current = None
            continue
        current = [f"{where}: {severity}: {message}"]
        failures.append(current)
    if result.returncode != 0 and not failures:
        failures.append([f"{job.path}: swiftc failed:\n{result.stdout}{result.stderr}"])
    return ["\n".join(f) for f in failures]


def main():
    modules, manifest_api, clang = sys.argv[1], sys.argv[2], sys.argv[3:]
    swift_arguments = ["-swift-version", "6", "-enable-upcoming-feature", "MemberImportVisibility", "-parse-as-library", "-I", modules] + clang
    manifest_arguments = ["-swift-version", "6", "-I", manifest_api, "-package-description-version", "6.2"]
    work = tempfile.mkdtemp(prefix="doc-snippets.")
    jobs, problems, counted, files = [], [], 0, 0
    try:
        for path in markdown_files():
            blocks, prelude, found = parse(path)
            problems += found
            if not blocks:
                continue
            files += 1
            counted += len(blocks)
            jobs += plan(path, blocks, prelude, work, swift_arguments, manifest_arguments)
        skipped = sum(1 for p in markdown_files() for b in parse(p)[0] if "skip" in b.kinds)
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for job, result in pool.map(run, jobs):
                problems += report(job, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{counted} Swift blocks in {files} files ({skipped} marked skip), {len(jobs)} swiftc runs: "
          + (f"{len(problems)} problems" if problems else "every block type-checks"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
