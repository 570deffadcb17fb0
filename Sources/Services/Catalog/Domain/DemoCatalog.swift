import Foundation

/// The TechStore demo catalog: the same ≈8 categories and 200 products on every machine, so the
/// README's walkthrough and screenshots match what a newcomer sees.
public enum DemoCatalog {
    public struct CategorySeed: Sendable {
        public var slug: String
        public var name: String
        /// Product families (base name, base price in cents), each sold in every variant.
        var families: [(String, Int)]
        var variants: [String]
        var attributeKey: String
    }

    public struct ProductSeed: Sendable {
        public var categorySlug: String
        public var draft: ProductDraft
        public var onHand: Int
    }

    public static let categories: [CategorySeed] = [
        CategorySeed(
            slug: "notebooks", name: "Notebooks",
            families: [
                ("Notebook Aurora 14", 549_900), ("Notebook Vega 15", 629_900), ("Ultrabook Nimbus 13", 789_900),
                ("Notebook Gamer Titan 16", 1_099_900), ("Chromebook Lume 11", 189_900),
            ],
            variants: ["i5", "i7", "i9", "Ryzen 5", "Ryzen 7"], attributeKey: "processador"),
        CategorySeed(
            slug: "smartphones", name: "Smartphones",
            families: [
                ("Smartphone Orion X", 299_900), ("Smartphone Lyra 5G", 189_900), ("Smartphone Pulsar Pro", 549_900),
                ("Smartphone Nova Lite", 99_900), ("Smartphone Zenite Fold", 999_900),
            ],
            variants: ["128GB", "256GB", "512GB", "64GB", "1TB"], attributeKey: "armazenamento"),
        CategorySeed(
            slug: "tablets", name: "Tablets",
            families: [
                ("Tablet Solaris 11", 249_900), ("Tablet Kappa 8", 99_900), ("Tablet Delta Pro 12.9", 699_900),
                ("Tablet Infantil Koala 7", 59_900), ("E-reader Papiro 6", 69_900),
            ],
            variants: ["Wi-Fi 64GB", "Wi-Fi 128GB", "4G 128GB", "5G 256GB", "Wi-Fi 32GB"], attributeKey: "versao"),
        CategorySeed(
            slug: "monitores", name: "Monitores",
            families: [
                ("Monitor Horizonte 24", 89_900), ("Monitor Prisma 27 QHD", 189_900), ("Monitor Gamer Raio 27 240Hz", 299_900),
                ("Monitor UltraWide Fenda 34", 349_900), ("Monitor Portátil Trilha 15.6", 119_900),
            ],
            variants: ["IPS", "VA", "OLED", "IPS Pro", "Mini-LED"], attributeKey: "painel"),
        CategorySeed(
            slug: "perifericos", name: "Periféricos",
            families: [
                ("Teclado Mecânico Brisa", 39_900), ("Mouse Sem Fio Cometa", 14_900), ("Mouse Gamer Falcão", 24_900),
                ("Webcam Clara Full HD", 29_900), ("Mousepad Estendido Nuvem", 7_900),
            ],
            variants: ["Preto", "Branco", "Cinza", "Azul", "Rosa"], attributeKey: "cor"),
        CategorySeed(
            slug: "audio", name: "Áudio",
            families: [
                ("Fone Bluetooth Eco", 29_900), ("Headset Gamer Trovão", 39_900), ("Caixa de Som Maré", 49_900),
                ("Soundbar Arena 2.1", 129_900), ("Fone In-Ear Sussurro ANC", 59_900),
            ],
            variants: ["Preto", "Branco", "Azul", "Verde", "Grafite"], attributeKey: "cor"),
        CategorySeed(
            slug: "componentes", name: "Componentes",
            families: [
                ("SSD NVMe Relâmpago", 39_900), ("Memória DDR5 Fluxo", 49_900), ("Placa de Vídeo Quasar", 449_900),
                ("Fonte Modular Usina", 69_900), ("Processador Núcleo", 189_900),
            ],
            variants: ["500GB", "1TB", "2TB", "16GB", "32GB"], attributeKey: "capacidade"),
        CategorySeed(
            slug: "redes", name: "Redes",
            families: [
                ("Roteador Wi-Fi 6 Ponte", 49_900), ("Sistema Mesh Teia", 129_900), ("Switch Gigabit Trama 8", 24_900),
                ("Adaptador USB Wi-Fi Antena", 12_900), ("Repetidor Sinal Eco", 15_900),
            ],
            variants: ["AX1800", "AX3000", "AX5400", "AC1200", "AX6000"], attributeKey: "padrao"),
    ]

    /// 200 products, 25 per category (5 families × 5 variants), with prices and stock varied by
    /// a fixed-seed generator: the same every run.
    public static func products() -> [ProductSeed] {
        var random = SplitMix64(seed: 0x6D61_6C68_6100)
        var seeds: [ProductSeed] = []
        for category in categories {
            for family in category.families {
                for (variantIndex, variant) in category.variants.enumerated() {
                    let number = seeds.count + 1
                    // Variants step the price up; noise of ±10 % keeps sorting interesting. Prices end in 90 cents.
                    let step = 100 + variantIndex * 12
                    let noise = Int(random.next() % 21) - 10
                    let price = max(990, (family.1 * step / 100) * (100 + noise) / 100 / 100 * 100 + 90)
                    let stockRoll = random.next() % 10
                    let onHand = stockRoll == 0 ? 0 : Int(random.next() % 150) + 1
                    let padded = String(repeating: "0", count: max(0, 3 - String(number).count)) + String(number)
                    let sku = "TS-\(category.slug.prefix(3).uppercased())-\(padded)"
                    let name = "\(family.0) \(variant)"
                    let draft = ProductDraft(
                        sku: sku,
                        name: name,
                        description:
                            "\(name): \(category.name.lowercased()) da linha TechStore com garantia de 12 meses e nota fiscal.",
                        priceCents: price,
                        currency: ProductRules.defaultCurrency,
                        attributes: [category.attributeKey: variant, "marca": "TechStore", "linha": family.0],
                        images: ["https://cdn.techstore.example/products/\(sku.lowercased())/1.jpg"],
                        active: true
                    )
                    seeds.append(ProductSeed(categorySlug: category.slug, draft: draft, onHand: onHand))
                }
            }
        }
        return seeds
    }
}

/// A tiny deterministic generator (SplitMix64), so the demo data does not depend on the platform RNG.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
