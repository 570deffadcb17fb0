import Foundation
import MalhaCore
import MalhaTesting
import Testing

@Suite("InMemoryCache")
struct InMemoryCacheTests {
    @Test func storesAndExpiresByTheInjectedClock() async {
        let clock = testClock()
        let cache = InMemoryCache(capacity: 10, clock: clock)
        await cache.set("a", [1, 2, 3], ttl: .seconds(30))
        #expect(await cache.get("a") == [1, 2, 3])
        clock.advance(by: .seconds(29))
        #expect(await cache.get("a") == [1, 2, 3])
        clock.advance(by: .seconds(1))
        #expect(await cache.get("a") == nil)
        #expect(cache.count == 0)
    }

    @Test func deletesByKeyAndPrefix() async {
        let cache = InMemoryCache(clock: testClock())
        for key in ["product:1", "product:2", "category:1"] { await cache.set(key, [0], ttl: .seconds(60)) }
        await cache.delete("product:1")
        #expect(await cache.get("product:1") == nil)
        #expect(await cache.get("product:2") == [0])
        await cache.delete(prefix: "product:")
        #expect(await cache.get("product:2") == nil)
        #expect(await cache.get("category:1") == [0])
    }

    @Test func staysWithinCapacityEvictingExpiredThenSoonestToExpire() async {
        let clock = testClock()
        let cache = InMemoryCache(capacity: 3, clock: clock)
        await cache.set("short", [1], ttl: .seconds(5))
        await cache.set("long", [2], ttl: .seconds(100))
        await cache.set("medium", [3], ttl: .seconds(50))
        await cache.set("new", [4], ttl: .seconds(100))
        #expect(cache.count == 3)
        #expect(await cache.get("short") == nil)
        #expect(await cache.get("long") == [2])
        #expect(await cache.get("new") == [4])
        // Overwriting an existing key never evicts another.
        await cache.set("new", [5], ttl: .seconds(100))
        #expect(await cache.get("medium") == [3])
        #expect(cache.count == 3)
    }

    @Test func nonPositiveTTLStoresNothing() async {
        let cache = InMemoryCache(clock: testClock())
        await cache.set("a", [1], ttl: .seconds(10))
        await cache.set("a", [2], ttl: .zero)
        #expect(await cache.get("a") == nil)
    }
}
