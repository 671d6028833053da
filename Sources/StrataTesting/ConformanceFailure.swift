/// A conformance check that did not hold, with the sentence of the contract it checks.
///
/// ```swift
/// do { try await check.run(context) } catch let failure as ConformanceFailure { print(failure) }
/// ```
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// What was expected and what happened.
    public var message: String
    /// Where the failed expectation is in the suite.
    public var location: String

    /// `message (at File.swift:line)`.
    public var description: String { "\(message) (at \(location))" }
}

/// The expectation helpers the checks are written with.
enum Expect {
    static func that(
        _ condition: Bool, _ message: @autoclosure () -> String,
        file: StaticString = #fileID, line: UInt = #line
    ) throws {
        if !condition { throw ConformanceFailure(message: message(), location: "\(file):\(line)") }
    }

    static func equal<Value: Equatable>(
        _ actual: Value, _ expected: Value, _ what: @autoclosure () -> String,
        file: StaticString = #fileID, line: UInt = #line
    ) throws {
        if actual != expected {
            throw ConformanceFailure(
                message: "\(what()): expected \(expected), got \(actual)", location: "\(file):\(line)")
        }
    }

    /// Expects `body` to throw a `StrataError` of `code`; returns it.
    @discardableResult
    static func error<Result>(
        _ code: StrataError.Code, _ what: @autoclosure () -> String,
        file: StaticString = #fileID, line: UInt = #line,
        _ body: () async throws -> Result
    ) async throws -> StrataError {
        do {
            let result = try await body()
            throw ConformanceFailure(
                message: "\(what()): expected a StrataError \(code), got the result \(result)",
                location: "\(file):\(line)")
        } catch let error as StrataError {
            if error.code != code {
                throw ConformanceFailure(
                    message: "\(what()): expected a StrataError \(code), got \(error)", location: "\(file):\(line)")
            }
            return error
        } catch let failure as ConformanceFailure {
            throw failure
        } catch {
            throw ConformanceFailure(
                message: "\(what()): expected a StrataError \(code), got \(type(of: error)): \(error)",
                location: "\(file):\(line)")
        }
    }
}
