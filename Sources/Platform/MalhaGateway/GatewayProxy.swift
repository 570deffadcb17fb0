import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import MalhaCore
import MalhaHTTP
import MalhaIdentity
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix

/// The proxy, run in named phases on the request's own task (Pingora-style, no actor hops):
/// route → authenticate → select upstream → forward → respond.
///
/// It is installed as the router's not-found responder's middleware (see `GatewayService`), so it
/// sees exactly the requests no gateway endpoint (`/health/*`, `/metrics`, `/openapi.json`) owns.
struct GatewayProxy<Context: MalhaRequestContext & RemoteAddressRequestContext>: RouterMiddleware {
    let routes: RouteTableCache
    let health: UpstreamHealth
    let verifier: AccessTokenVerifier
    let httpClient: HTTPClient
    let clock: any WallClock
    let maxBodyBytes: Int
    let metricsFactory: any MetricsFactory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        // Defensive: a matched gateway endpoint never reaches here (middleware added after the
        // platform routes does not wrap them), but if one ever does, it is the gateway's own.
        if context.endpointPath != nil { return try await next(request, context) }

        // TRACE echoes the request back (credentials included: cross-site tracing), CONNECT opens a
        // tunnel; neither is an API call, so neither goes past the gateway.
        guard request.method != .trace && request.method != .connect else {
            throw Problem(
                .methodNotAllowed, code: "method_not_allowed", detail: "\(request.method) is not served through the gateway")
        }

        // Phase 1: route.
        let rawTarget = request.head.path ?? "/"
        let parts = rawTarget.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path: CanonicalPath
        do {
            path = try CanonicalPath(parts.first ?? "/")
        } catch {
            throw Problem.badRequest("invalid_path", error.description)
        }
        // Forwarded exactly as matched: the canonical path, the query as it came.
        let target = parts.count == 2 ? path.encoded + "?" + parts[1] : path.encoded
        let entry: RouteEntry
        switch routes.current().match(path: Substring(path.decoded), method: request.method.rawValue) {
        case .route(let matched): entry = matched
        case .methodNotAllowed:
            throw Problem(.methodNotAllowed, code: "method_not_allowed", detail: "\(request.method) is not allowed on this path")
        case .none:
            throw Problem(.notFound, code: "route_not_found", title: "Not found", detail: "no route serves \(path.decoded)")
        }
        // Bounded metrics label for the RED middleware: the route prefix, never the raw path.
        context.coreContext.endpointPath.value = entry.prefix

        // Phase 2: authenticate and authorise.
        try await authorize(request, context: context, entry: entry)

        // Phases 3–5: select, forward, respond.
        return try await forward(request, context: context, entry: entry, target: target)
    }

    func authorize(_ request: Request, context: Context, entry: RouteEntry) async throws {
        var principal: Principal?
        if let header = request.headers[.authorization], !Self.isBasicOnPublicRoute(header, entry.policy) {
            guard let token = BearerAuthenticationMiddleware<Context>.bearerToken(header) else {
                throw Problem.unauthorized(
                    "the Authorization header must be 'Bearer <token>'",
                    challenge: #"Bearer realm="malha", error="invalid_request""#)
            }
            do {
                principal = try await verifier.verify(token)
            } catch {
                context.logger.info("token refused", metadata: ["reason": "\(error)"])
                throw Problem.unauthorized(error.description, challenge: #"Bearer realm="malha", error="invalid_token""#)
            }
        }
        if var problem = entry.policy.evaluate(principal) {
            if problem.status == .unauthorized { problem.headers[.wwwAuthenticate] = #"Bearer realm="malha""# }
            throw problem
        }
    }

    /// HTTP Basic credentials on a public route pass untouched: they are a client's id and secret
    /// for the token endpoint (`client_secret_basic`, RFC 6749 §2.3.1), which the upstream checks.
    /// Anywhere else only a bearer token is accepted.
    static func isBasicOnPublicRoute(_ header: String, _ policy: AccessPolicy) -> Bool {
        policy == .public && header.split(separator: " ", maxSplits: 1).first?.lowercased() == "basic"
    }

    func forward(_ request: Request, context: Context, entry: RouteEntry, target: String) async throws -> Response {
        let body = try await requestBody(request)
        let headers = ProxyHeaders.upstreamRequestHeaders(
            from: request.headers, clientAddress: context.remoteAddress?.ipAddress, requestID: context.requestID)
        let target = entry.stripPrefix ? Self.stripping(entry.prefix, from: target) : target
        let deadline = NIODeadline.now() + entry.timeout
        let candidates = entry.candidates(health: health, now: clock.now())
        // Nothing was sent when a connection is refused, so the next instance is safe to try (the
        // body is held whole, so it can be sent again).
        let start = ContinuousClock.now
        // A pooled keep-alive connection the upstream has just closed fails a request it never
        // processed; that request goes once more to the same upstream (on a fresh connection) when
        // that is safe: nothing was sent, or the method is idempotent.
        let idempotent = GatewayFailure.idempotentMethods.contains(request.method)
        for upstream in candidates {
            var upstreamRequest = HTTPClientRequest(url: upstream.baseURL + target)
            upstreamRequest.method = HTTPMethod(rawValue: request.method.rawValue)
            upstreamRequest.headers = headers
            upstreamRequest.body = body
            var outcome = await send(upstreamRequest, deadline: deadline, context: context)
            if case .failed(.staleConnection(let sent), _) = outcome, !sent || idempotent {
                outcome = await send(upstreamRequest, deadline: deadline, context: context)
            }
            switch outcome {
            case .response(let response):
                health.readmit(upstream.baseURL)
                record(service: entry.service, status: Int(response.status.code), since: start)
                return Response(
                    status: HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
                    headers: ProxyHeaders.downstreamResponseHeaders(from: response.headers),
                    body: ResponseBody(asyncSequence: response.body))
            case .failed(.cancelled, let error):
                throw error
            case .failed(.connect, _):
                context.logger.warning("upstream refused the connection", metadata: ["upstream": "\(upstream.baseURL)"])
                health.eject(upstream.baseURL, now: clock.now())
            case .failed(let failure, let error):
                context.logger.warning(
                    "upstream failed", metadata: ["upstream": "\(upstream.baseURL)", "error": "\(String(reflecting: error))"])
                let problem = failure.problem
                record(service: entry.service, status: Int(problem.status.code), since: start)
                throw problem
            }
        }
        record(service: entry.service, status: 503, since: start)
        throw Self.unavailable(entry.service)
    }

    enum Attempt {
        case response(HTTPClientResponse)
        case failed(GatewayFailure, any Error)
    }

    /// One try of the upstream request.
    func send(_ request: HTTPClientRequest, deadline: NIODeadline, context: Context) async -> Attempt {
        do {
            return .response(try await httpClient.execute(request, deadline: deadline, logger: context.logger))
        } catch {
            return .failed(GatewayFailure(error), error)
        }
    }

    /// The body to send upstream, read whole first (at most `maxBodyBytes`), or nil when the
    /// request has none.
    ///
    /// Not streamed: an upstream may answer before it has read a streamed body (a 401 or 415
    /// decided from the headers alone), and the client's body writer would then still be waiting
    /// for the next chunk while the server reads the connection for the next request — two
    /// readers of one stream, which NIO traps on, taking the process down. Held whole, the body
    /// can also be sent again to the next instance, or after a stale pooled connection.
    func requestBody(_ request: Request) async throws -> HTTPClientRequest.Body? {
        if let value = request.headers[.contentLength] {
            guard let length = Int64(value), length >= 0 else {
                throw Problem.badRequest("invalid_content_length", "Content-Length is not a number")
            }
            guard length <= maxBodyBytes else {
                throw Problem(.contentTooLarge, code: "payload_too_large", detail: "the body exceeds \(maxBodyBytes) bytes")
            }
            if length == 0 { return nil }
        } else if request.headers[.transferEncoding] == nil {
            return nil
        }
        let buffer = try await request.collectBody(upTo: maxBodyBytes)
        return buffer.readableBytes == 0 ? nil : .bytes(buffer)
    }

    func record(service: String, status: Int, since start: ContinuousClock.Instant) {
        Counter(
            label: "gateway_upstream_requests_total", dimensions: [("service", service), ("status", String(status))],
            factory: metricsFactory
        ).increment()
        Metrics.Timer(label: "gateway_upstream_duration_seconds", dimensions: [("service", service)], factory: metricsFactory)
            .recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }

    static func unavailable(_ service: String) -> Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = "1"
        return Problem(
            .serviceUnavailable, code: "service_unavailable", title: "Service unavailable",
            detail: "no instance of \(service) is available", headers: headers)
    }

    static func stripping(_ prefix: String, from target: String) -> String {
        guard target.hasPrefix(prefix) else { return target }
        let rest = target.dropFirst(prefix.count)
        return rest.hasPrefix("/") ? String(rest) : "/" + rest
    }
}

/// How an upstream attempt failed, and what that means: one error type that knows whether
/// trying another instance is safe (only when the connection was never made).
enum GatewayFailure {
    case connect
    /// The pooled connection was closed under the request: before anything was written
    /// (`sent` false), or before any response came back (`sent` true).
    case staleConnection(sent: Bool)
    case failure(Problem)
    case cancelled

    /// RFC 9110 §9.2.2: repeating these has the effect of sending them once.
    static let idempotentMethods: Set<HTTPRequest.Method> = [.get, .head, .options, .put, .delete, .trace]

    static let badGateway = Problem(.badGateway, code: "bad_gateway", title: "Bad gateway", detail: "the upstream failed")

    /// What the client gets when this failure ends the request.
    var problem: Problem {
        if case .failure(let problem) = self { return problem }
        return Self.badGateway
    }

    init(_ error: any Error) {
        switch error {
        case is CancellationError:
            self = .cancelled
        case let error as HTTPClientError where error == .deadlineExceeded:
            self = .failure(
                Problem(
                    .gatewayTimeout, code: "upstream_timeout", title: "Gateway timeout",
                    detail: "the upstream did not answer in time"))
        case let error as HTTPClientError where error == .connectTimeout:
            self = .connect
        case let error as HTTPClientError where error == .cancelled:
            self = .cancelled
        case let error as HTTPClientError where error == .remoteConnectionClosed:
            self = .staleConnection(sent: true)
        case ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed:
            self = .staleConnection(sent: false)
        case is NIOConnectionError:
            self = .connect
        case let error as IOError where error.errnoCode == ECONNREFUSED:
            self = .connect
        case ChannelError.connectTimeout:
            self = .connect
        default:
            self = .failure(Self.badGateway)
        }
    }
}
