/// A rejected cron expression or zone: where (1-based column), what, and what is allowed there.
public struct CronError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field the problem is in ("minute", "hour", "day-of-month", "month", "day-of-week"), if any.
    public var field: String?
    /// The offending text.
    public var token: String
    /// 1-based column of `token` in the expression.
    public var column: Int
    /// What went wrong and what is allowed instead.
    public var message: String

    public var description: String {
        "column \(column)" + (field.map { ", \($0) field" } ?? "") + ": \"\(token)\": \(message)"
    }
}
