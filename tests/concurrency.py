"""Running work at the same instant in several threads, each with its own app context and database session."""
import threading

from app.extensions import db


def run_threads(app, count, work, *, commit=True, timeout=120):
    """Start work(i) for i in range(count) together (a barrier releases them at once) and return each result, or
    the exception it raised (its session rolled back). With `commit`, what succeeds is committed by the runner."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(index):
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                results[index] = work(index)
                if commit:
                    db.session.commit()
            except Exception as exc:
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
