import threading
from django.db import connection

def test_zz(transactional_db):
    with connection.cursor() as c:
        c.execute("select pid, state, backend_start, left(query, 80) from pg_stat_activity where datname = current_database()")
        for r in c.fetchall():
            print("PG", r)
    print("THREADS", [t.name for t in threading.enumerate()])
