import CSQLite

/// The peer: the same payloads in SQLite, WAL with synchronous=FULL, one INSERT per transaction —
/// what a daemon would get from "just use SQLite" with the same durability promise per record.
final class SQLitePeer {
    private var db: OpaquePointer?
    private var insert: OpaquePointer?

    init(path: String) {
        check(sqlite3_open(path, &db), "open")
        exec("PRAGMA journal_mode=WAL")
        exec("PRAGMA synchronous=FULL")
        exec("CREATE TABLE IF NOT EXISTS records(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        check(sqlite3_prepare_v2(db, "INSERT INTO records(payload) VALUES (?)", -1, &insert, nil), "prepare")
    }

    deinit {
        sqlite3_finalize(insert)
        sqlite3_close(db)
    }

    private func check(_ rc: Int32, _ what: String) {
        precondition(rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW, "sqlite \(what): \(String(cString: sqlite3_errmsg(db)))")
    }

    private func exec(_ sql: String) {
        check(sqlite3_exec(db, sql, nil, nil, nil), sql)
    }

    /// One autocommit INSERT: SQLite syncs the WAL before returning.
    func append(_ payload: [UInt8]) {
        payload.withUnsafeBytes { raw in
            _ = sqlite3_bind_blob(insert, 1, raw.baseAddress, Int32(raw.count), nil)
        }
        check(sqlite3_step(insert), "insert")
        sqlite3_reset(insert)
    }

    /// Many rows in one transaction, for preparing a large table quickly.
    func appendBatch(_ payloads: [[UInt8]]) {
        exec("BEGIN")
        for p in payloads { append(p) }
        exec("COMMIT")
    }

    /// Reads every payload back, the peer of journal recovery; returns the byte count.
    func scanAll() -> Int {
        var statement: OpaquePointer?
        check(sqlite3_prepare_v2(db, "SELECT seq, payload FROM records ORDER BY seq", -1, &statement, nil), "prepare scan")
        defer { sqlite3_finalize(statement) }
        var bytes = 0
        while sqlite3_step(statement) == SQLITE_ROW {
            bytes += Int(sqlite3_column_bytes(statement, 1))
        }
        return bytes
    }
}
