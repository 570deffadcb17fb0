import Foundation
import Hummingbird
import MalhaCore
import MalhaHTTP
import MalhaIdentity

/// The catalog's HTTP surface. Handlers parse and validate, call the repository, and map
/// `CatalogError` to problems; they hold no state of their own.
struct CatalogRoutes: Sendable {
    let repository: CatalogRepository

    func register(on router: Router<ServiceRequestContext>) {
        router.get("/v1/categories") { _, _ in try await self.listCategories() }
        router.get("/v1/products") { request, _ in try await self.listProducts(request) }
        router.get("/v1/products/{id}") { request, context in try await self.getProduct(request, context: context) }

        let admin = router.group().add(middleware: AccessPolicyMiddleware<ServiceRequestContext>(.admin))
        admin.post("/v1/categories") { request, context in try await self.createCategory(request, context: context) }
        admin.post("/v1/products") { request, context in try await self.createProduct(request, context: context) }
        admin.put("/v1/products/{id}") { request, context in try await self.replaceProduct(request, context: context) }
        admin.delete("/v1/products/{id}") { _, context in try await self.deleteProduct(context: context) }
        admin.post("/v1/products/{id}/stock-adjustments") { request, context in
            try await self.adjustStock(request, context: context)
        }
    }

    // MARK: Public

    func listCategories() async throws -> CategoryListResponse {
        CategoryListResponse(items: try await repository.categories())
    }

    func listProducts(_ request: Request) async throws -> Page<Product> {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where parameters[String(key)] == nil {
            parameters[String(key)] = String(value)
        }
        let query: ProductQuery
        switch ProductQuery.parse(parameters) {
        case .success(let parsed): query = parsed
        case .failure(.invalid(let violations)): throw Problem.validation(violations)
        case .failure(.cursorNotFound):
            throw Problem(
                .notFound, code: "cursor_not_found", detail: "no page starts at this cursor: use a next_cursor of this sort order"
            )
        }
        let page = try await repository.products(matching: query)
        return Page<Product>(items: page.items, nextCursor: page.nextCursor)
    }

    /// A product by id, with a strong ETag over the exact bytes served; `If-None-Match` → 304.
    /// Inactive products exist only for administrators.
    func getProduct(_ request: Request, context: ServiceRequestContext) async throws -> Response {
        let id = try productID(context)
        guard let (product, json) = try await repository.cachedProduct(id: id),
            product.active || context.principal?.isAdmin == true
        else { throw Problem.notFound("Product") }
        let etag = ETag.strong(for: json)
        var headers: HTTPFields = [.eTag: etag, .cacheControl: "no-cache"]
        if request.headers[values: .ifNoneMatch].contains(where: { ETag.matches($0, etag) }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    // MARK: Admin

    func createCategory(_ request: Request, context: ServiceRequestContext) async throws -> EditedResponse<Category> {
        let body = try await request.decode(as: CategoryRequest.self, context: context)
        let violations = ProductRules.validateCategory(slug: body.slug, name: body.name)
        guard violations.isEmpty else { throw Problem.validation(violations) }
        let category = try await repository.createCategory(slug: body.slug, name: body.name)
        return EditedResponse(status: .created, headers: [.location: "/v1/categories/\(category.id)"], response: category)
    }

    func createProduct(_ request: Request, context: ServiceRequestContext) async throws -> EditedResponse<Product> {
        let principal = try context.requirePrincipal()
        let body = try await request.decode(as: ProductRequest.self, context: context)
        var violations = ProductRules.validate(body.draft)
        if let stock = body.initialStock, stock < 0 || stock > ProductRules.maxStockDelta {
            violations.append(.init("initial_stock", "must be an integer from 0 to \(ProductRules.maxStockDelta)"))
        }
        guard violations.isEmpty else { throw Problem.validation(violations) }
        let product = try await repository.createProduct(
            body.draft, initialStock: body.initialStock ?? 0, actor: principal.subject)
        return EditedResponse(status: .created, headers: [.location: "/v1/products/\(product.id)"], response: product)
    }

    func replaceProduct(_ request: Request, context: ServiceRequestContext) async throws -> Product {
        let id = try productID(context)
        let body = try await request.decode(as: ProductRequest.self, context: context)
        let violations = ProductRules.validate(body.draft)
        guard violations.isEmpty else { throw Problem.validation(violations) }
        return try await repository.replaceProduct(id: id, with: body.draft)
    }

    func deleteProduct(context: ServiceRequestContext) async throws -> HTTPResponse.Status {
        let id = try productID(context)
        try await repository.deactivateProduct(id: id)
        return .noContent
    }

    func adjustStock(_ request: Request, context: ServiceRequestContext) async throws -> EditedResponse<StockAdjustmentResponse> {
        let principal = try context.requirePrincipal()
        let id = try productID(context)
        let body = try await request.decode(as: StockAdjustmentRequest.self, context: context)
        let violations = ProductRules.validateAdjustment(delta: body.delta, reason: body.reason)
        guard violations.isEmpty else { throw Problem.validation(violations) }
        let (movement, level) = try await repository.adjustStock(
            productID: id, delta: body.delta, reason: body.reason, actor: principal.subject)
        return EditedResponse(status: .created, response: StockAdjustmentResponse(movement: movement, stock: level))
    }

    /// The `{id}` path parameter as a lowercased UUID; anything else names no product (404).
    func productID(_ context: ServiceRequestContext) throws -> String {
        guard let raw = context.parameters.get("id"), let uuid = UUID(uuidString: raw) else {
            throw Problem.notFound("Product")
        }
        return uuid.uuidString.lowercased()
    }
}

/// Strong entity tags over response bytes.
///
/// FNV-1a (64-bit) rather than a cryptographic hash: the tag only has to change when the bytes
/// do, and clients cannot gain anything by forging one (a wrong tag just means a 200).
enum ETag {
    static func strong(for bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "-\(bytes.count)\""
    }

    /// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored, `*` matches.
    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }
}
