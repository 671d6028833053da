import CSQLite
import Strata

/// Creating the tables, checking them, and migrating a file of an earlier schema version.
extension SQLiteStore {
    /// Creates the entries, lease and record tables, the expiry index and the lease-breaking
    /// triggers when missing, checks the columns of existing ones, and migrates a version 1
    /// file (its records move out of the entries table), all in one immediate transaction,
    /// so that two processes opening one new file at once do not both create it.
    static func prepareSchema(
        _ connection: SQLiteConnection, queries: SQLiteQueries, configuration: Configuration, backend: String
    ) throws {
        try connection.immediateTransaction {
            let version = try connection.statement("PRAGMA user_version").run { statement in
                try statement.step() ? Int(statement.integer(0)) : 0
            }
            if version > SQLiteQueries.schemaVersion {
                throw StrataError(
                    code: .invalidConfiguration,
                    message:
                        "the database has schema version \(version), written by a newer Strata (this one writes \(SQLiteQueries.schemaVersion))",
                    backend: backend)
            }
            try createOrCheck(
                queries.table, columns: ["key", "value", "expires"], creating: [queries.createTable],
                in: connection, configuration: configuration, backend: backend)
            try connection.execute(queries.createExpiryIndex)
            try createOrCheck(
                queries.leaseTable, columns: ["key", "token", "until"], creating: [queries.createLeaseSchema[0]],
                in: connection, configuration: configuration, backend: backend)
            try createOrCheck(
                queries.recordTable, columns: ["name", "value"], creating: [queries.createLeaseSchema[1]],
                in: connection, configuration: configuration, backend: backend)
            for statement in queries.createLeaseSchema.dropFirst(2) { try connection.execute(statement) }
            if version < SQLiteQueries.schemaVersion {
                try moveReservedRecords(connection, queries: queries)
                try connection.execute("PRAGMA user_version = \(SQLiteQueries.schemaVersion)")
            }
        }
    }

    /// Creates `table` when it is missing; throws when it exists with other columns, or
    /// without its first column as its only primary key (someone else's table with the same
    /// column names: every upsert would then fail, as `ON CONFLICT` needs that key).
    private static func createOrCheck(
        _ table: String, columns expected: [String], creating: [String],
        in connection: SQLiteConnection, configuration: Configuration, backend: String
    ) throws {
        var columns: [String] = []
        var primaryKey: [String] = []
        try connection.statement("PRAGMA table_info(\(table))").run { statement in
            while try statement.step() {
                let name = String(decoding: statement.bytes(1), as: UTF8.self)
                columns.append(name)
                if statement.integer(5) != 0 { primaryKey.append(name) }
            }
        }
        if columns.isEmpty {
            for sql in creating { try connection.execute(sql) }
        } else if columns != expected {
            throw StrataError(
                code: .invalidConfiguration,
                message:
                    "the table \(table) has the columns \(columns), not \(expected); choose another tableName (currently \(configuration.tableName))",
                backend: backend)
        } else if primaryKey != [expected[0]] {
            throw StrataError(
                code: .invalidConfiguration,
                message:
                    "the table \(table) has the primary key \(primaryKey), not [\"\(expected[0])\"]: it is not Strata's; choose another tableName (currently \(configuration.tableName))",
                backend: backend)
        }
    }

    /// Version 1 kept Strata's records as reserved keys of the entries table (the default
    /// of `KeyValueStore`): `"\0strata-tag:<tag>"`, `"\0strata-envelopes"` and
    /// `"\0strata-record:<name>"`, each a decimal number. They move to the record table
    /// (keeping the greater value where both hold one), so a tag invalidated before the
    /// upgrade stays invalidated and enveloped entries are still read through their envelope.
    private static func moveReservedRecords(_ connection: SQLiteConnection, queries: SQLiteQueries) throws {
        let prefix = ReservedRecords.prefix
        var moved: [(key: String, name: String, value: Int64)] = []
        try connection.statement(queries.entriesInRange).run { statement in
            try statement.bind(1, text: prefix)
            try statement.bind(2, textBytes: SQLiteQueries.upperBound(ofPrefix: prefix) ?? [])
            try statement.bind(3, integer: Int64.min)  // expired or not: records never expire
            while try statement.step() {
                guard let key = String(validating: statement.bytes(0), as: UTF8.self),
                    let name = ReservedRecords.recordName(ofKey: key),
                    let text = String(validating: statement.bytes(1), as: UTF8.self), let value = Int64(text)
                else { continue }  // not a record this release knows: left where it is
                moved.append((key, name, value))
            }
        }
        for record in moved {
            try connection.statement(queries.raiseRecord).run { statement in
                try statement.bind(1, text: record.name)
                try statement.bind(2, integer: record.value)
                _ = try statement.step()
            }
            try connection.statement(queries.delete).run { statement in
                try statement.bind(1, text: record.key)
                while try statement.step() {}
            }
        }
    }
}

extension ReservedRecords {
    /// The record a reserved key of schema version 1 holds, or `nil` for any other key.
    static func recordName(ofKey key: String) -> String? {
        let name: String
        if let tag = KeyRules.remainder(of: key, afterPrefix: tagRecordPrefix) {
            name = "tag:" + tag
        } else if key == envelopesKey {
            name = "envelopes"
        } else if let rest = KeyRules.remainder(of: key, afterPrefix: prefix + "record:") {
            name = rest
        } else {
            return nil
        }
        return self.key(for: name) == key ? name : nil
    }
}
