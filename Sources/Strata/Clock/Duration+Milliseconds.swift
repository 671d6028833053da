extension Duration {
    /// The duration in whole milliseconds, saturating at `Int64`'s bounds: rounded down,
    /// or (`roundingUp`) up, so that a positive duration under a millisecond is not zero.
    /// The one conversion every store, lock and clock of the package uses.
    package func wholeMilliseconds(roundingUp: Bool = false) -> Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
        if overflow { return seconds < 0 ? .min : .max }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        var fraction = attoseconds / perMillisecond
        if roundingUp && attoseconds % perMillisecond > 0 { fraction += 1 }
        let (total, sumOverflow) = whole.addingReportingOverflow(fraction)
        return sumOverflow ? .max : total
    }
}
