// An example of Docs/Integrations.md, compiled (and run where the test run has what it
// needs), so the guide cannot drift from the API.
#if Hummingbird
import Strata
import Hummingbird
import HummingbirdAuth
import StrataHummingbird
import StrataSQLite

struct HummingbirdGuideExample {
    struct User: Sendable {}

    // Docs/Integrations.md, "Hummingbird": the example's body, up to running the app.
    static func make(path: String) throws -> some ApplicationProtocol {
        let persist = StrataPersistDriver(store: TieredStore(l1: MemoryStore(), l2: try SQLiteStore(path: path)))
        let router = Router(context: BasicSessionRequestContext<String, User>.self)
        router.addMiddleware { SessionMiddleware(storage: persist) }  // hummingbird-auth sessions
        router.put("jobs/:id") { request, context -> HTTPResponse.Status in
            try await persist.create(key: try context.parameters.require("id"), value: "queued", expires: .seconds(60))
            return .created
        }
        return Application(router: router, services: [persist])
    }
}
#endif
