# Included from _walx.pyx; not a standalone module.
# Recovery across the logs of a directory: replay in log-number order under
# the recovery mode (docs/format.md), and settle what recovery dropped
# before a WalManager appends after it. WalManager.iter_recover,
# recover_from_dir and recover_and_open are the entry points.


class Recovery:
    """What recover_and_open replayed and what it dropped.

    batches: list[WriteBatch]; max_seq: int; max_log_number: int;
    corruptions: list[Corruption] (every dropped range: file, offset, size,
    reason); files: list[(log_number, path, max_seq)] of the logs kept;
    quarantined: the NAME.broken copies of what was dropped (see
    WalManager.recover_and_open).
    """

    __slots__ = ("batches", "max_seq", "max_log_number", "corruptions", "files",
                 "quarantined")

    def __init__(self, batches, max_seq, max_log_number, corruptions, files,
                 quarantined=()):
        self.batches = batches
        self.max_seq = max_seq
        self.max_log_number = max_log_number
        self.corruptions = corruptions
        self.files = files
        self.quarantined = list(quarantined)

    def __repr__(self):
        return (f"<walx.Recovery batches={len(self.batches)} max_seq={self.max_seq} "
                f"max_log_number={self.max_log_number} "
                f"corruptions={len(self.corruptions)}>")


class _Recoverer:
    """Replays a directory's logs in order, one batch at a time (constant
    memory), applying the recovery mode across files (docs/format.md)."""

    def __init__(self, directory, mode):
        self.directory = pathlib.Path(_fspath(directory, "dir"))
        self.mode = _check_mode(mode)
        self.corruptions = []
        self.files = []           # (log_number, path, max_seq in that file)
        self.first_seqs = {}      # log_number -> first sequence, logs with batches
        self.file_first = 0       # first sequence of the log being replayed
        # What recover_and_open does to make the recovered state the state
        # on disk: ("cut", path, end) for a dropped damaged tail,
        # ("drop", path) for a log POINT_IN_TIME passed over.
        self.settle = []
        self.max_seq = 0
        self.max_log_number = 0
        self.stopped = False      # POINT_IN_TIME: damage seen, replay paused
        self.next_seq = None      # sequence expected next (last replayed + 1)

    def __iter__(self):
        for log_number, path in _list_wal_files(self.directory):
            self.max_log_number = max(self.max_log_number, log_number)
            _log.info("recovering WAL %s", path)
            reader = LogReader(path, mode=self.mode, codec="walx")
            try:
                file_max = yield from self._replay(reader, path)
            finally:
                self.corruptions.extend(reader.corruptions)
                reader.close()
            if file_max is not None:
                self.files.append((log_number, path, file_max))
                if self.file_first:
                    self.first_seqs[log_number] = self.file_first

    def _replay(self, LogReader reader, path):
        """Yield the batches of one log; returns the highest sequence in
        it, or None when the log is dropped."""
        batch = reader.read_record()
        if self.stopped:
            if batch is None and not reader.corruptions:
                return 0              # an empty log drops nothing; keep looking
            if batch is None or (<WriteBatch>batch)._sequence != self.next_seq:
                self._drop(path)
                return None
            self.stopped = False
        cdef uint64_t last, file_max = 0
        self.file_first = batch.sequence if batch is not None else 0
        while batch is not None:
            last = (<WriteBatch>batch).last_seq
            file_max = max(file_max, last)
            self.max_seq = max(self.max_seq, last)
            self.next_seq = last + 1
            yield batch
            batch = reader.read_record()
        if self.mode is RecoveryMode.POINT_IN_TIME and reader.corruptions:
            self.stopped = True
        if reader.corruptions and reader.end_offset < reader.file_size:
            self.settle.append(("cut", path, reader.end_offset))
        return file_max

    def _drop(self, path):
        """After earlier damage (POINT_IN_TIME), a log that does not continue
        the replayed sequence: of a generation that the damage cut off."""
        self.corruptions.append(Corruption(
            str(path), 0, os.path.getsize(path),
            "dropped: log does not continue the replayed sequence "
            "after earlier damage (POINT_IN_TIME)"))
        _log.warning("WAL %s skipped after earlier damage (POINT_IN_TIME)", path)
        self.settle.append(("drop", path))


cdef list _settle(r):
    """Make what recovery dropped gone from the log set, so the next
    recovery replays exactly what this one did plus what comes after (a
    damaged tail left in place would stop a later POINT_IN_TIME recovery
    before the logs written since). Returns the NAME.broken paths kept."""
    kept = []
    for action in r.settle:
        path = str(action[1])
        if action[0] == "cut":
            kept.append(_cut_keeping_copy(path, action[2]))
            _log.warning("cut the dropped tail of %s at offset %d (original kept as %s)",
                         path, action[2], kept[-1])
        else:
            broken = _broken_name(path)
            _rename(path, broken)
            kept.append(broken)
            _log.warning("moved %s, which recovery passed over, to %s", path, broken)
    if kept:
        # Each cut is durable, and its copy's name was synced before it
        # (_cut_keeping_copy). Until this fsync a crash may undo the renames:
        # a log recovery passed over is then back under its own name, and
        # the next recovery passes over it again. Nothing is appended before
        # the new log is created, after this fsync.
        _sync_dir_of(r.directory)
    return kept


cdef tuple _recover_and_open(dir, mode, dict options):
    """WalManager.recover_and_open: lock, recover, settle, open the next log
    and register each recovered log as closed."""
    cdef WalManager m = WalManager.__new__(WalManager)
    unknown = set(options) - {"sync", "buffer_size", "recyclable",
                              "recycle_log_files", "preallocate", "sync_interval"}
    if unknown:
        raise TypeError(f"unexpected option(s) {sorted(unknown)}")
    _check_mode(mode)
    m._configure(dir, options.get("sync", True), options.get("buffer_size", 0),
                 options.get("recyclable", False), options.get("recycle_log_files", 0),
                 options.get("preallocate", 0), options.get("sync_interval", 0.0))
    m._take_lock()
    try:
        r = _Recoverer(m.dir, mode)
        batches = list(r)
        kept = _settle(r)
        if r.max_log_number == _MAX_LOG_NUMBER:
            raise WalError(f"cannot open a new log in {m.dir}: its log "
                           f"{r.max_log_number} is the largest log number")
        m._open_log(r.max_log_number + 1 if r.max_log_number else 1)
        for n, _path, file_max in r.files:
            m._closed_logs.append((n, file_max))
        m._log_first = dict(r.first_seqs)
        # Everything recovered is on disk and read back; appends continue
        # at max_seq + 1.
        m._written_seq = r.max_seq
        walx_queue_set_seqs(&m._q, r.max_seq, r.max_seq)
    except BaseException:
        m._abandon()
        raise
    _start_syncer(m)
    _log.info("recovered %d batches from %d WAL files in %s (max seq %d, "
              "%d damaged ranges)", len(batches), len(r.files), m.dir, r.max_seq,
              len(r.corruptions))
    return m, Recovery(batches, r.max_seq, r.max_log_number, r.corruptions, r.files, kept)
