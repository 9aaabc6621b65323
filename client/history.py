"""`import sales FILE.csv`: a sales history sent to sales.import in batches, with progress, safe to interrupt and run again.

The file is read and checked line by line (client/sales_import.py) on a thread of its own, a batch or two ahead, so a file
of millions of lines needs no more memory than a few batches. Up to IMPORT_BATCHES_IN_FLIGHT batches are at the server at
once, each on a connection of its own (the server checks one while it writes another), and they are told in file order.
On a terminal a progress bar on stderr shows rows per second and the time left; otherwise a plain line every
PLAIN_PROGRESS_EVERY_S. Every row carries its sale_id, so a second run of the same file finds what the first put in
("já existiam") and nothing counts twice; Ctrl+C stops sending (a batch already at the server may still go in) and says so.
"""

import collections
import io
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

from client import imports, sales_import, views
from client.api import Api
from client.commands import IMPORT_FAILOVER_TIMEOUT_S, CommandError, Context, report_refusals, sign_in
from client.connection import RemoteError, ServerUnreachable
from client.views import os_error
from models.dates import today_in
from models.money import thousands
from models.people import MANAGER
from runtime.threads import leave_signals_to_the_main_thread

PLAIN_PROGRESS_EVERY_S = 5.0
BAR_WIDTH = 24
COUNTED = {"imported": ("importada", "importadas"), "duplicates": ("já existia", "já existiam"), "refused": ("recusada", "recusadas")}


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
        self.ended = False

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
        if self.terminal and not self.ended:
            self.err.write("\n")
        self.ended = True


def summary(counts: dict[str, int]) -> str:
    return "Vendas: " + ", ".join(views.counted(counts[key], *words) for key, words in COUNTED.items()) + "."


# A sale without an id is known by its content and its line: fixed in place, the file can run again; with lines deleted
# or moved, every sale after them would come in again.
SALES_FIX_HINT = ("para trazê-las, corrija essas linhas em {original} no mesmo lugar, sem apagar nem mover linhas, e rode de "
                  "novo o mesmo arquivo: o que já entrou não entra duas vezes (uma venda sem id é reconhecida pela linha)")


# The start of a sales file its encoding is told from (imports.encoding_of). Past it, a byte the encoding cannot read
# stops the import there (what went before is in: running the file again, fixed, brings the rest); UTF-8 met in a file
# told Windows-1252 reads as other letters, which only a sale's id could hold, and an id is refused unless a UUID.
ENCODING_SNIFF_BYTES = 1 << 20


def run_sales_import(path: Path, ctx: Context, err: TextIO) -> int:
    """Check and send the file; the summary on stdout, refusals on stderr and in FILE.erros.csv; 0 when none was refused.
    Signs in once the file opens and its header is read: a seller is refused before its lines are checked (and an
    errors file written again); a missing file or a wrong header is said with no server."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CommandError(f"não foi possível ler {path}: {os_error(exc)}") from None
    with raw:
        total_bytes = path.stat().st_size
        head = raw.read(ENCODING_SNIFF_BYTES)
        raw.seek(0)
        today = today_in(ctx.config.timezone, ctx.clock.now())
        try:
            encoding = imports.encoding_of(head, whole=len(head) < ENCODING_SNIFF_BYTES)
            bom = imports.errors_file_bom(head, encoding)
            text = io.TextIOWrapper(raw, encoding=encoding, newline="")
            header, items = sales_import.read_sales(text, today)
        except (imports.ImportFileError, UnicodeDecodeError) as exc:
            line = imports.first_undecodable_line(path, encoding) if isinstance(exc, UnicodeDecodeError) else None
            raise CommandError(f"{path}: {_file_problem(exc, line)}") from None
        user, _ = sign_in(ctx.api, ctx.config, ctx.queue)
        if user["role"] != MANAGER:  # the server refuses it too: said here before a line is checked
            raise CommandError(views.ROLE_ONLY[MANAGER])
        counts = {key: 0 for key in COUNTED}
        refused: list[imports.Refused] = []
        progress = Progress(err, total_bytes, ctx.clock)
        interrupted: BaseException | None = None
        sender = _Sender(ctx, counts, refused)
        try:
            # each batch with where the file had been read to when it was made: the bar shows the part of the file told
            read = ((good, refusals, raw.tell()) for good, refusals in sales_import.batches_of(items, sales_import.BATCH_ROWS))
            for good, refusals, end_byte in _read_ahead(read):
                for _ in sender.send(good, refusals, end_byte):
                    progress.show(counts["imported"] + counts["duplicates"] + len(refused), sender.told_bytes)
            for _ in sender.finish():
                progress.show(counts["imported"] + counts["duplicates"] + len(refused), sender.told_bytes)
        except UnicodeDecodeError as exc:  # past the start the encoding was told from: the import stops at that line
            interrupted = EncodingStop(f"{path}: {_file_problem(exc, imports.first_undecodable_line(path, encoding))}")
        except (RemoteError, ServerUnreachable, CommandError, KeyboardInterrupt) as exc:
            interrupted = exc
        finally:
            if isinstance(interrupted, KeyboardInterrupt) and sender.in_flight:
                progress.end()
                err.write("onsell: esperando a resposta dos lotes já enviados (Ctrl+C de novo para não esperar)\n")
                err.flush()
            untold = sender.abandon()
            progress.end()
    if isinstance(interrupted, RemoteError) and interrupted.code == views.FORBIDDEN and not any(counts.values()) and not refused:
        raise interrupted  # a seller, say: nothing was sent, and running the file again would not help
    counts["refused"] = len(refused)
    ctx.out.write(summary(counts) + "\n")
    ctx.out.flush()
    parsed = imports.ParsedFile(imports.SALES, header.separator, header.cells, bom)
    report_refusals(parsed, refused, path, err, SALES_FIX_HINT)
    if interrupted is not None:
        if untold:
            err.write(f"onsell: {thousands(untold)} linhas enviadas ficaram sem resposta: podem ter entrado\n")
        again = "corrija o arquivo e rode-o de novo" if isinstance(interrupted, EncodingStop) else "rode de novo o mesmo arquivo"
        err.write(f"onsell: importação interrompida; {again}: o que já entrou não entra duas vezes\n")
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
        leave_signals_to_the_main_thread()  # Ctrl+C is the main thread's: it waits for the batches at the server
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


@dataclass
class _Batch:
    good: list[imports.Good]
    refusals: list[imports.Refused]  # met by the client on the way
    answer: Future | None = None  # of sales.import, None when every line was refused here
    sale_ids: frozenset = frozenset()
    end_byte: int = 0  # how far the file had been read when this batch was made


class _Sender:
    """Batches to sales.import, up to IMPORT_BATCHES_IN_FLIGHT at the server at once (each on a connection of its own, so
    the server checks the next while it writes the previous), told in file order. Two batches that share a sale_id are
    never at the server together, so what each row gets (imported, already there, or which one is refused) is what one
    batch at a time would give."""

    def __init__(self, ctx: Context, counts: dict, refused: list):
        self.ctx = ctx
        self.counts = counts
        self.refused = refused
        self.depth = ctx.config.import_in_flight
        self.lanes: list[Api] = []  # one per batch at the server; the first is the command's own, signed in
        self.in_flight: collections.deque[_Batch] = collections.deque()
        self.sent = 0  # batches sent so far
        self.told_bytes = 0  # how far into the file the batches told so far reach
        self.saved_timeouts_s = (0.0, 0.0)  # the command's connection's failover and call timeouts, put back at the end

    def send(self, good: list[imports.Good], refusals: list[imports.Refused], end_byte: int = 0) -> Iterator[None]:
        """Send a batch, after telling the batches that must be told first; yields each time one has been told."""
        batch = _Batch(good, refusals, sale_ids=frozenset(item.row["sale_id"] for item in good), end_byte=end_byte)
        while self.in_flight and self._tell_first(batch):
            self._tell(self.in_flight.popleft())
            yield
        if good:
            batch.answer = _in_background(self._lane(), [item.row for item in good])
        self.in_flight.append(batch)

    def _tell_first(self, batch: _Batch) -> bool:
        """Whether the oldest batch must be told before `batch` goes: too many at the server, the oldest answered already,
        one failed (nothing more is sent), or one shares a sale_id with it."""
        oldest = self.in_flight[0]
        return (len(self.in_flight) >= self.depth or oldest.answer is None or oldest.answer.done()
                or any(b.answer is not None and b.answer.done() and b.answer.exception() is not None for b in self.in_flight)
                or any(not batch.sale_ids.isdisjoint(b.sale_ids) for b in self.in_flight))

    def finish(self) -> Iterator[None]:
        while self.in_flight:
            self._tell(self.in_flight.popleft())
            yield

    def abandon(self) -> int:
        """After the end or an interruption: the batches already at the server are waited for and told (they go in all
        the same; each answer comes within IMPORT_FAILOVER_TIMEOUT_S), so the summary counts what went in, until one
        fails or a second Ctrl+C; the connections are as they were. How many rows were sent and not told: those may
        have gone in too (a second run finds them)."""
        while self.in_flight:
            try:
                self._tell(self.in_flight[0])
            except (Exception, KeyboardInterrupt):
                break
            self.in_flight.popleft()
        untold = sum(len(batch.good) for batch in self.in_flight if batch.answer is not None)
        self.in_flight.clear()
        if self.lanes:
            self.ctx.api.connection.failover_timeout_s, self.ctx.api.connection.call_timeout_s = self.saved_timeouts_s
        for lane in self.lanes[1:]:
            lane.connection.close()
        return untold

    def _lane(self) -> Api:
        """The connection for the next batch: the one the batch `depth` sends ago used (it has been told), or a new one."""
        if not self.lanes:  # signed in by run_sales_import
            self.lanes.append(self.ctx.api)
            self.saved_timeouts_s = (self.ctx.api.connection.failover_timeout_s, self.ctx.api.connection.call_timeout_s)
        index = self.sent % self.depth
        self.sent += 1
        if index == len(self.lanes):
            lane = Api(self.ctx.api.connection.sibling())
            lane.token, lane.user = self.ctx.api.token, self.ctx.api.user
            self.lanes.append(lane)
        lane = self.lanes[index]
        # a batch may take many seconds on a busy cluster: waiting for its answer beats sending it again (which would
        # count its rows as already there)
        lane.connection.failover_timeout_s = max(self.saved_timeouts_s[0], IMPORT_FAILOVER_TIMEOUT_S)
        lane.connection.call_timeout_s = max(self.saved_timeouts_s[1], IMPORT_FAILOVER_TIMEOUT_S)
        return lane

    def _tell(self, batch: _Batch) -> None:
        self.refused += batch.refusals
        if batch.answer is not None:
            answer = batch.answer.result()
            self.counts["imported"] += answer["imported"]
            self.counts["duplicates"] += answer["duplicates"]
            for refusal in answer["refused"]:
                item = batch.good[refusal["index"]]
                self.refused.append(imports.Refused(item.number, imports.server_reason(refusal), item.fields))
        self.counts["refused"] = len(self.refused)
        self.told_bytes = max(self.told_bytes, batch.end_byte)


def _in_background(api: Api, rows: list[dict]) -> Future:
    """sales.import of the rows, on a thread of its own."""
    answer: Future = Future()

    def send() -> None:
        leave_signals_to_the_main_thread()
        try:
            answer.set_result(api.import_sales(rows))
        except BaseException as exc:  # handed to the main thread, which raises it where this batch is told
            answer.set_exception(exc)

    threading.Thread(target=send, name="import-send", daemon=True).start()
    return answer


class EncodingStop(CommandError):
    """A sales file stopped at a line its encoding (told from its start) cannot read."""


def _file_problem(exc: Exception, line: int | None = None) -> str:
    if isinstance(exc, UnicodeDecodeError):
        name = "UTF-8" if exc.encoding.startswith("utf") else "Windows-1252"
        return f"{f'a linha {line}' if line else 'uma linha'} não está em {name}, como o começo do arquivo; {imports.NOT_UTF8_HINT}"
    return str(exc)
