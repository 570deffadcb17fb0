/// Renders integer minor units as money a Brazilian customer reads naturally, with integer
/// arithmetic only (no `Double` ever touches an amount).
///
/// The format: Brazilian separators for every currency (`.` groups thousands, `,` separates the
/// minor units), the `R$` symbol for BRL and the ISO 4217 code for any other currency — the store
/// writes in Portuguese, and a code cannot be mistaken the way `$` can. The minor-unit digits
/// follow ISO 4217 (two unless listed in `minorDigits`).
///
///     format(minorUnits: 123_456, currency: "BRL")  // "R$ 1.234,56"
///     format(minorUnits: 500, currency: "USD")      // "USD 5,00"
///     format(minorUnits: 1_500, currency: "JPY")    // "JPY 1.500"
///     format(minorUnits: -990, currency: "BRL")     // "-R$ 9,90"
public enum MoneyFormat {
    /// ISO 4217 currencies whose minor unit is not a hundredth.
    static let minorDigits: [String: Int] = [
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
        "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    ]

    public static func format(minorUnits amount: Int64, currency: String) -> String {
        let code = currency.uppercased()
        let digits = minorDigits[code] ?? 2
        // `magnitude` is a UInt64, so even Int64.min formats without overflow.
        let magnitude = amount.magnitude
        var divisor: UInt64 = 1
        for _ in 0..<digits { divisor *= 10 }
        var text = grouped(magnitude / divisor)
        if digits > 0 {
            let fraction = String(magnitude % divisor)
            text += "," + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        let symbol = code == "BRL" ? "R$" : code
        return (amount < 0 ? "-" : "") + symbol + " " + text
    }

    /// `1234567` → `1.234.567`.
    static func grouped(_ value: UInt64) -> String {
        let digits = Array(String(value))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { text.append(".") }
            text.append(digit)
        }
        return text
    }
}
