#ifndef CPQ_SHIM_H
#define CPQ_SHIM_H
#include <libpq-fe.h>

/* PG_DIAG_SQLSTATE is a character constant ('C') in postgres_ext.h; named here for Swift. */
static inline char *cpq_sqlstate(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SQLSTATE);
}

/* A notice processor that drops notices ("relation already exists, skipping") instead of
   printing them on stderr, where libpq's default one puts them. */
static void cpq_ignore_notice(void *arg, const char *message) { (void)arg; (void)message; }

static inline void cpq_silence_notices(PGconn *conn) {
    PQsetNoticeProcessor(conn, cpq_ignore_notice, 0);
}
#endif
