"""`import sales FILE.csv`: a sales history sent to sales.import in batches, with progress, safe to interrupt and run again.

The file is read and checked line by line (client/sales_import.py), so a file of millions of lines needs no more memory
than a batch. On a terminal a progress bar on stderr shows rows per second and the time left; otherwise a plain line every
PLAIN_PROGRESS_EVERY_S. Every row carries its sale_id, so a second run of the same file finds what the first put in
("já existiam") and nothing counts twice; Ctrl+C stops after the batch in flight and says so.
"""

import io
import queue
import threading
from pathlib import Path
from typing import Iterator, TextIO

from client import imports, sales_import
from client.api import Api
from client.commands import IMPORT_FAILOVER_TIMEOUT_S, CommandError, Context, report_refusals, sign_in
from client.connection import RemoteError, ServerUnreachable
from client.views import os_error
from models.dates import today_in

PLAIN_PROGRESS_EVERY_S = 5.0
BAR_WIDTH = 24
COUNTED = {"imported": "importadas", "duplicates": "já existiam", "refused": "recusadas"}


def thousands(number: float) -> str:
    """1.234.567 (Brazilian thousands separator)."""
    return f"{number:,.0f}".replace(",", ".")


def duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """What has gone in, how fast, and how long is left (by bytes of the file read); written to `err`."""

    def __init__(self, err: TextIO, total_bytes: int, clock):
        self.err = err
        self.total_bytes = max(1, total_bytes)
        self.clock = clock
        self.started = clock.monotonic_s()
        self.last_plain = self.started
        self.terminal = err.isatty()

    def line(self, rows: int, done_bytes: int) -> str:
        elapsed = max(1e-6, self.clock.monotonic_s() - self.started)
        fraction = min(1.0, done_bytes / self.total_bytes)
        rate = rows / elapsed
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else 0
        filled = int(fraction * BAR_WIDTH)
        bar = "█" * filled + "░" * (BAR_WIDTH - filled)
        return f"{bar} {fraction * 100:5.1f}%  {thousands(rows)} linhas  {thousands(rate)} linhas/s  faltam {duration(left)}"

    def show(self, rows: int, done_bytes: int) -> None:
        if self.terminal:
            self.err.write("\r" + self.line(rows, done_bytes))
            self.err.flush()
        elif self.clock.monotonic_s() - self.last_plain >= PLAIN_PROGRESS_EVERY_S:
            self.last_plain = self.clock.monotonic_s()
            self.err.write(self.line(rows, done_bytes).split(" ", 1)[1].strip() + "\n")
            self.err.flush()

    def end(self) -> None:
        if self.terminal:
            self.err.write("\n")


def summary(counts: dict[str, int]) -> str:
    return "Vendas: " + ", ".join(f"{thousands(counts[key])} {words}" for key, words in COUNTED.items()) + "."


def run_sales_import(path: Path, ctx: Context, err: TextIO) -> int:
    """Check and send the file; the summary on stdout, refusals on stderr and in FILE.erros.csv; 0 when none was refused."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CommandError(f"não foi possível ler {path}: {os_error(exc)}") from None
    with raw:
        total_bytes = path.stat().st_size
        bom = raw.read(3) == imports.BOM.encode()
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        today = today_in(ctx.config.timezone, ctx.clock.now())
        try:
            header, items = sales_import.read_sales(text, today)
        except (imports.ImportFileError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: {_file_problem(exc)}") from None
        counts = {key: 0 for key in COUNTED}
        refused: list[imports.Refused] = []
        progress = Progress(err, total_bytes, ctx.clock)
        interrupted: BaseException | None = None
        signed_in = False
        try:
            for good, refusals in _read_ahead(sales_import.batches_of(items, sales_import.BATCH_ROWS)):
                refused += refusals
                if good:
                    if not signed_in:
                        sign_in(ctx.api, ctx.config, ctx.queue)
                        signed_in = True
                    _send(ctx.api, good, counts, refused)
                counts["refused"] = len(refused)
                progress.show(counts["imported"] + counts["duplicates"] + len(refused), raw.tell())
        except UnicodeDecodeError as exc:
            interrupted = CommandError(f"{path}: {_file_problem(exc)}")
        except (RemoteError, ServerUnreachable, CommandError, KeyboardInterrupt) as exc:
            interrupted = exc
        finally:
            progress.end()
    counts["refused"] = len(refused)
    ctx.out.write(summary(counts) + "\n")
    ctx.out.flush()
    parsed = imports.ParsedFile(imports.SALES, header.separator, header.cells, bom)
    report_refusals(parsed, refused, path, err)
    if interrupted is not None:
        err.write("onsell: importação interrompida; rode de novo o mesmo arquivo: o que já entrou não entra duas vezes\n")
        if isinstance(interrupted, KeyboardInterrupt):
            return 1
        raise interrupted
    return 0 if not refused else 1


_END = object()


def _read_ahead(batches: Iterator, depth: int = 2) -> Iterator:
    """The batches, read and checked on a thread of their own while the previous batch is at the server: reading the file
    and the server's work overlap. An error while reading comes out where that batch would have."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_END)
        except Exception as exc:  # handed to the consumer, which raises it
            ready.put(exc)

    threading.Thread(target=produce, name="import-reader", daemon=True).start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()


def _send(api: Api, good: list[imports.Good], counts: dict, refused: list) -> None:
    connection = api.connection
    saved = connection.failover_timeout_s
    connection.failover_timeout_s = max(saved, IMPORT_FAILOVER_TIMEOUT_S)
    try:
        answer = api.import_sales([item.row for item in good])
    finally:
        connection.failover_timeout_s = saved
    counts["imported"] += answer["imported"]
    counts["duplicates"] += answer["duplicates"]
    for refusal in answer["refused"]:
        item = good[refusal["index"]]
        refused.append(imports.Refused(item.number, imports.server_reason(refusal), item.fields))


def _file_problem(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "o arquivo não está em UTF-8; salve-o como \"CSV UTF-8\""
    return str(exc)
