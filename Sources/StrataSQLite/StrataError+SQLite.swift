public import Strata

extension StrataError.Code {
    /// The database file is damaged (`StrataSQLite`): SQLite found it is not a database
    /// (`SQLITE_NOTADB`) or that its contents are malformed (`SQLITE_CORRUPT`), at open or
    /// during a call. The error's backend names the file, and `underlying` holds the
    /// ``SQLiteFailure``. Unlike `backendUnavailable`, retrying does not help: the file
    /// has to be moved aside or deleted. A cache can be rebuilt, so
    /// ``SQLiteStore/Configuration/recoversFromDamage`` does that at open.
    ///
    /// ```swift
    /// catch let error as StrataError where error.code == .damagedDatabase {
    ///     // alert: restart with recoversFromDamage, or remove the file
    /// }
    /// ```
    public static let damagedDatabase = StrataError.Code("damagedDatabase")
}
