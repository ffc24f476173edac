import CZlib

/// gzip (RFC 1952) of a scrape, with the system's zlib: a 10,000-schedule exposition is megabytes
/// of text that compresses about fifteenfold, and Prometheus asks for gzip on every scrape.
///
/// A scrape is two parts: the per-schedule families, which change only when facts do, and the
/// process's own series, which change every time. The first is deflated once per change and kept
/// (`Gzip.Part`: raw deflate blocks ending on a byte boundary, referring to nothing before them);
/// a scrape deflates only the second after it and joins them into one gzip member, the way pigz
/// joins blocks compressed apart.
public enum Gzip {
    /// Bytes deflated apart, to be joined into a member: the blocks, and the CRC-32 and length of
    /// what they hold.
    public struct Part: Sendable {
        public var deflated: [UInt8]
        public var crc: UInt
        public var count: Int

        public static let empty = Part(deflated: [], crc: 0, count: 0)
    }

    /// `bytes` as raw deflate blocks that end with a sync flush (byte-aligned, not final), so that
    /// more blocks can follow them.
    public static func part(_ bytes: [UInt8]) -> Part? {
        guard !bytes.isEmpty, let deflated = deflate(bytes, flush: Z_SYNC_FLUSH) else { return bytes.isEmpty ? .empty : nil }
        return Part(deflated: deflated, crc: checksum(bytes), count: bytes.count)
    }

    /// One gzip member: `first` as kept, then `last` deflated now as the final blocks.
    public static func member(_ first: Part, then last: [UInt8]) -> [UInt8]? {
        guard let tail = deflate(last, flush: Z_FINISH) else { return nil }
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]  // deflate, no name, no time, Unix
        out.reserveCapacity(out.count + first.deflated.count + tail.count + 8)
        out.append(contentsOf: first.deflated)
        out.append(contentsOf: tail)
        let crc = first.count == 0 ? checksum(last) : UInt(crc32_combine(uLong(first.crc), uLong(checksum(last)), off_t(last.count)))
        let size = UInt32(truncatingIfNeeded: first.count + last.count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: crc) >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: size >> UInt32(shift))) }
        return out
    }

    /// Whether an `Accept-Encoding` value accepts gzip (`gzip`, `x-gzip` or `*`, not with q=0).
    public static func accepted(by header: String) -> Bool {
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
            guard let coding = parts.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }

    private static func checksum(_ bytes: [UInt8]) -> UInt {
        UInt(bytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) })
    }

    /// Raw deflate (no header) at level 1: a scrape is fast text, and level 1 already takes most of it.
    private static func deflate(_ bytes: [UInt8], flush: Int32) -> [UInt8]? {
        var stream = z_stream()
        guard deflateInit2_(&stream, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return nil
        }
        defer { deflateEnd(&stream) }
        // The bound covers the stream's end; a sync flush adds at most five bytes more.
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 16)
        let status: Int32 = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return CZlib.deflate(&stream, flush)
            }
        }
        guard status == (flush == Z_FINISH ? Z_STREAM_END : Z_OK), stream.avail_in == 0 else { return nil }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }
}
