# Included from _walx.pyx; not a standalone module.
# repair(): cut the damaged tail of a log file, or of each log of a
# directory, keeping the original as NAME.broken. Recovery's settle step
# (_recovery.pyx) cuts with the same _cut_keeping_copy.


cdef str _broken_name(str path):
    """The first free name of NAME.broken, NAME.broken.1, ..."""
    broken = path + ".broken"
    k = 0
    while os.path.exists(broken):
        k += 1
        broken = f"{path}.broken.{k}"
    return broken


cdef str _cut_keeping_copy(str path, uint64_t end):
    """Truncate `path` to `end` after copying the original to a new
    NAME.broken; returns the copy's path. The copy's bytes are durable
    before the cut, and the cut is durable on return, so no crash loses a
    byte before `end`; the copy's name is durable once the caller has
    synced the directory."""
    import shutil
    broken = _broken_name(path)
    shutil.copy2(path, broken)
    _fsync_path(broken)
    _truncate_durably(path, end)
    return broken


def repair(path, *, dry_run=False):
    """Truncate each damaged tail to the end of its last valid record.

    `path` is a log file or a directory (its <digits>.wal/.log files). The
    original of each file that is cut is kept as NAME.broken (NAME.broken.N
    when that exists already). Returns a RepairedCorruption (a Corruption
    with cut_offset, cut_size and backup) for each damaged range that was
    (or, with dry_run, would be) cut. A log damaged in the middle (valid
    records after the damage) raises CorruptionError; for a directory that
    is found before anything is cut, so either every torn tail is cut or no
    file changes. A directory with a LOCK file that a live WalManager holds
    (the directory itself, or the file's) raises WalLockedError.
    """
    path = _fspath(path, "path")
    _check_bool(dry_run, "dry_run")
    is_dir = os.path.isdir(path)
    files = [p for _, p in _log_files(path, False)] if is_dir else [path]
    cdef int lock_fd = -1
    if not dry_run:
        lock_fd = _lock_if_managed(path if is_dir else os.path.dirname(os.path.abspath(path)))
    try:
        if len(files) > 1 and not dry_run:
            for f in files:
                _repair_file(f, True)       # raises on mid-file damage, cuts nothing
        cut = []
        for f in files:
            cut.extend(_repair_file(f, dry_run))
        return cut
    finally:
        if lock_fd >= 0:
            walx_unlock_file(lock_fd)


cdef object _lock_if_managed(str directory):
    """Take `directory`'s LOCK if it has one (a WalManager's directory);
    returns its descriptor, or -1 when there is no LOCK. A live manager's
    lock raises WalLockedError: cutting a log it writes would lose data."""
    lock_path = os.path.join(directory, "LOCK")
    if not os.path.isfile(lock_path):
        return -1
    return _lock_or_raise(lock_path, f"{directory} is locked by a live WalManager (LOCK "
                                     f"file {lock_path}); close it before repairing its logs")


cdef list _repair_file(str path, bint dry_run):
    """Cut `path`'s damaged tail (unless dry_run); the RepairedCorruption
    list of what was, or would be, cut. Mid-file damage raises
    CorruptionError before anything changes."""
    reader = LogReader(path, mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL)
    try:
        for _ in reader:
            pass
    finally:
        reader.close()
    cdef uint64_t end = reader.end_offset, size = reader.file_size
    if reader.clean_end or end >= size:
        return []
    found = list(reader.corruptions) or [
        Corruption(path, end, size - end, "end of log: bytes after the last valid record")]
    broken = None
    if not dry_run:
        broken = _cut_keeping_copy(path, end)
        # A crash before this fsync may lose the name NAME.broken (its
        # bytes were fsynced, its directory entry not yet) while the cut,
        # fsynced in the file itself, stays. The log then holds every valid
        # record it held before, as repair intends; only the copy of the
        # cut bytes, which no reader returns, is lost. Copying before
        # cutting is what makes every order of crash safe for the log.
        _sync_dir_of(os.path.dirname(os.path.abspath(path)))
        _log.warning("repaired %s: cut %d bytes at offset %d (original kept as %s)",
                     path, size - end, end, broken)
    return [RepairedCorruption(*c, end, size - end, broken) for c in found]
