/// Passwords seen most often in breach corpora (lowercased). A password whose lowercase form is
/// here is refused at registration whatever its length: length alone does not stop a dictionary attack.
enum CommonPasswords {
    static let list: Set<String> = [
        "123456789012", "1234567890123", "12345678901234", "123456789000", "111111111111", "000000000000",
        "123123123123", "password1234", "password12345", "password123456", "passwordpassword", "password1!23",
        "qwertyuiop12", "qwertyuiop123", "qwertyuiopasdf", "qwerty123456", "qwerty1234567", "1qaz2wsx3edc",
        "1q2w3e4r5t6y", "1q2w3e4r5t6y7u", "zaq12wsxcde3", "asdfghjkl123", "asdfghjkl;'", "zxcvbnm12345",
        "iloveyou1234", "iloveyouiloveyou", "letmein12345", "letmeinletmein", "welcome12345", "welcome123456",
        "welcomewelcome", "administrator", "admin1234567", "adminadmin123", "changeme1234", "changemenow!",
        "trustno1trustno1", "sunshine1234", "princess1234", "football1234", "baseball1234", "basketball12",
        "superman1234", "batman123456", "starwars1234", "dragon123456", "monkey123456", "master123456",
        "shadow123456", "michael12345", "jennifer1234", "jordan231234", "liverpool123", "chelsea12345",
        "arsenal12345", "computer1234", "internet1234", "whatever1234", "freedom12345", "mustang12345",
        "abcdefghijkl", "abcdefghijklm", "abcd12345678", "abc123456789", "abcdef123456", "a1b2c3d4e5f6",
        "aaaaaaaaaaaa", "passw0rd1234", "p@ssw0rd1234", "p@ssword1234", "pa55word1234", "secret123456",
        "mypassword123", "mypassword12", "yourpassword", "thisismypassword", "correcthorsebatterystaple",
        "testtesttest", "test12345678", "qazwsxedcrfv", "1qazxsw23edc", "987654321098", "098765432109",
        "121212121212", "112233445566", "123321123321", "147258369000", "159753159753", "999999999999",
        "987654321987", "555555555555", "666666666666", "777777777777", "888888888888", "222222222222",
        "loveyou12345", "summer123456", "winter123456", "spring123456", "autumn123456", "december1234",
        "password2024", "password2025", "password2026", "welcome2024!", "qwerty123qwe", "hello1234567",
        "helloworld12", "helloworld123", "google123456", "samsung12345", "nopassword12", "default12345",
        "qwertyqwerty", "asdfasdfasdf", "zxcvzxcvzxcv", "11111111111111", "1234567891011", "ilovemymom12",
    ]

    static func contains(_ password: String) -> Bool {
        list.contains(password.lowercased())
    }

    /// A regular expression matching exactly the list, in any letter case (`[pP][aA]…`), anchored
    /// with `(?![\s\S])` rather than `$`, which in Python (schemathesis) also matches before a
    /// final newline. The document refuses these with it, as `contains` does.
    static let pattern: String = {
        let metacharacters = Set("\\^$.|?*+()[]{}/-")
        let alternatives = list.sorted().map { word in
            word.map { character -> String in
                if character.isLetter, character.lowercased() != character.uppercased() {
                    return "[\(character.lowercased())\(character.uppercased())]"
                }
                return metacharacters.contains(character) ? "\\\(character)" : String(character)
            }.joined()
        }
        return "^(?:" + alternatives.joined(separator: "|") + ")(?![\\s\\S])"
    }()
}
