public import Strata

extension StrataError.Code {
    /// An HTTP origin could not be reached or failed mid-response (`StrataHTTP`); the
    /// error names the URL, and `underlying` holds the transport's error (a `URLError`,
    /// or AsyncHTTPClient's).
    ///
    /// ```swift
    /// catch let error as StrataError where error.code == .originUnavailable { ... }
    /// ```
    public static let originUnavailable = StrataError.Code("originUnavailable")
}
