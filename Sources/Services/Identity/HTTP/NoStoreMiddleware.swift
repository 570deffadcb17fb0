import Hummingbird
import MalhaHTTP

/// `Cache-Control: no-store` on every identity API answer (`/v1/…`): tokens (login, refresh, the
/// token endpoint), a new client's secret, a user's roles — nothing a browser, proxy or CDN may
/// keep. The `.well-known` documents, which are public and cacheable, keep their own header.
struct NoStoreMiddleware<Context: MalhaRequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        var response = try await next(request, context)
        if request.uri.path.hasPrefix("/v1/"), response.headers[.cacheControl] == nil {
            response.headers[.cacheControl] = "no-store"
            response.headers[HTTPField.Name("Pragma")!] = "no-cache"
        }
        return response
    }
}
