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
    NAME.broken; returns the copy's path. The copy's bytes and its name are
    durable before the cut, and the cut is durable on return."""
    import shutil
    broken = _broken_name(path)
    shutil.copy2(path, broken)
    _fsync_path(broken)
    # A crash before this fsync may lose the copy's name, but the original
    # is not cut yet: it still holds every byte. After it, the copy survives
    # any crash, so once the cut starts every byte cut is in NAME.broken.
    _sync_dir_of(os.path.dirname(os.path.abspath(path)))
    # The cut changes no directory entry: fsyncing the file makes it durable.
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
    file changes, and the error's message names every such log (its path,
    offset and reason are the first one's). A directory with a LOCK file that a live WalManager holds
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
        if len(files) > 1:
            # Every log is checked before any is cut; each refused one is named.
            would_cut = _check_repairable(files)
            if dry_run:
                return would_cut
        cut = []
        for f in files:
            cut.extend(_repair_file(f, dry_run))
        return cut
    finally:
        if lock_fd >= 0:
            walx_unlock_file(lock_fd)


cdef list _check_repairable(list files):
    """What repair would cut in `files`, changing nothing. CorruptionError
    when any is damaged in the middle: the first such log's path, offset
    and reason, and the message names every other one."""
    would_cut = []
    refused = []
    for f in files:
        try:
            would_cut.extend(_repair_file(f, True))
        except CorruptionError as e:
            refused.append(e)
    if not refused:
        return would_cut
    first = refused[0]
    if len(refused) == 1:
        raise first
    others = "; ".join(f"{e.path} at offset {e.offset}: {e.reason}" for e in refused[1:])
    raise CorruptionError(f"{first.reason}; also damaged in the middle: {others}",
                          first.path, first.offset)


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
        # Copied, its name synced, then cut: a crash at any point leaves
        # the log uncut, or cut with NAME.broken holding every byte it had.
        broken = _cut_keeping_copy(path, end)
        _log.warning("repaired %s: cut %d bytes at offset %d (original kept as %s)",
                     path, size - end, end, broken)
    return [RepairedCorruption(*c, end, size - end, broken) for c in found]
