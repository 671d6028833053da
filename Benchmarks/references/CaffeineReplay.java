import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.BufferedReader;
import java.io.FileReader;
import java.util.Arrays;

/**
 * Replays a trace of page numbers (one a line) through Caffeine's W-TinyLFU cache at each
 * size given, as a read-through cache does (a read, and a write on a miss), and prints each
 * hit ratio (% of requests) as "size ratio". Maintenance runs on the calling thread, so
 * that every eviction has happened before the next request, as in a simulator.
 *
 * Usage: java -cp caffeine.jar:. CaffeineReplay TRACE SIZE...
 */
public final class CaffeineReplay {
    public static void main(String[] arguments) throws Exception {
        long[] pages;
        try (BufferedReader reader = new BufferedReader(new FileReader(arguments[0]), 1 << 20)) {
            pages = reader.lines().mapToLong(Long::parseLong).toArray();
        }
        for (String size : Arrays.copyOfRange(arguments, 1, arguments.length)) {
            Cache<Long, Boolean> cache = Caffeine.newBuilder()
                .maximumSize(Long.parseLong(size))
                .executor(Runnable::run)
                .build();
            long hits = 0;
            for (long page : pages) {
                if (cache.getIfPresent(page) != null) {
                    hits++;
                } else {
                    cache.put(page, Boolean.TRUE);
                }
            }
            cache.cleanUp();
            System.out.println(size + " " + (100.0 * hits / pages.length));
        }
    }
}
