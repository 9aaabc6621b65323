"""The group commit (db/database.py): writers that come straight back share the next commit instead of taking turns."""

import threading

from db.database import Database

WRITERS = 8
ROUNDS = 40


def test_writers_in_a_loop_share_each_commit_instead_of_splitting_into_two_groups(tmp_path):
    """Each writer's next write follows its answer at once (a till's next sale): without the wait for the writers just
    answered, the writer takes whatever is queued and the callers settle into two groups taking turns, about half of
    them per commit."""
    db = Database(tmp_path / "g.db")
    try:
        db.write(lambda conn: conn.execute("CREATE TABLE t (v INTEGER)"))
        sizes: list[int] = []
        db.after_batch.append(sizes.append)
        barrier = threading.Barrier(WRITERS)

        def writer():
            barrier.wait(timeout=30)  # a writer that failed first breaks it: the others stop instead of hanging
            for _ in range(ROUNDS):
                db.write(lambda conn: conn.execute("INSERT INTO t (v) VALUES (1)"))
        threads = [threading.Thread(target=writer, daemon=True) for _ in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "writers still writing after 60 s"
        assert db.read(lambda conn: conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == WRITERS * ROUNDS
        steady = sizes[len(sizes) // 4:]  # past the start, when the writers arrive one by one
        assert sum(steady) / len(steady) > 0.7 * WRITERS, f"writes per commit: {steady}"
    finally:
        db.close()

