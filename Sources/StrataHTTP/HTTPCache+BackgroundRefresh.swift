import Foundation
import Strata

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `stale-while-revalidate`: at most one background refresh per stored response.
extension HTTPCache {
    func refreshInBackground(_ exchange: Exchange, lookup: Lookup) {
        background.withLock { work in
            let key = lookup.storageKey ?? exchange.urlKey
            guard work.refreshing.insert(key).inserted else { return }
            work.nextID += 1
            let id = work.nextID
            work.tasks[id] = Task { [self] in
                // Overtaken by an invalidation, it fetches on its own: it serves no caller, so
                // it has no hit to look for (and none to count).
                _ = try? await fetchOnce(exchange, lookup: lookup, servesNoRequest: true)
                background.withLock { work in
                    work.refreshing.remove(key)
                    work.tasks[id] = nil
                }
            }
        }
    }
}
