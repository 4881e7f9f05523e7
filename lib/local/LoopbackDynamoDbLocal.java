import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.stream.Stream;
import com.almworks.sqlite4java.SQLiteConnection;
import com.almworks.sqlite4java.SQLiteException;
import com.almworks.sqlite4java.SQLiteJob;
import com.almworks.sqlite4java.SQLiteQueue;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.AbstractLocalDynamoDBServerHandler;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;
import software.amazon.dynamodb.services.local.shared.access.sqlite.SQLiteDBAccess;

/**
 * Starts DynamoDB Local bound to 127.0.0.1 only: its own command line listens on every interface and
 * has no host option, so this sets the host of its Jetty connector before the server starts. It answers
 * programs only (the rule of `refuseBrowserRequest` in loopback-guard.ts): a request under another Host
 * name than 127.0.0.1, localhost or [::1] with its port (DNS rebinding), or one a browser makes (Origin or
 * Sec-Fetch-* headers), is refused with 403 before DynamoDB Local sees it.
 *
 * Its SQLite databases write ahead to a log (see `WriteAheadLog`): a table on disk then takes hundreds of
 * writes a second instead of about 80.
 *
 * Takes DynamoDB Local's own arguments. `-port 0` (which its command line rejects) lets the connector
 * pick a free port. Prints `PERDURE_DYNAMODB_READY port=<port>` once listening. Exits as soon as its
 * standard input closes, so it never outlives the Node process that started it, however that one ends;
 * then it removes the folder named by the system property `perdure.ownedTmpdir` (its java.io.tmpdir),
 * which halting skips.
 */
public class LoopbackDynamoDbLocal {
  public static void main(String[] args) throws Exception {
    boolean anyPort = false;
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals("-port") && args[i + 1].equals("0")) {
        args[i + 1] = "8000"; // a placeholder for the parser; the connector gets port 0 below
        anyPort = true;
      }
    }
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server server = (Server) field.get(proxy);
    ServerConnector connector = null;
    for (Connector candidate : server.getConnectors()) {
      if (candidate instanceof ServerConnector) {
        connector = (ServerConnector) candidate;
        connector.setHost("127.0.0.1");
        if (anyPort) connector.setPort(0);
      }
    }
    if (connector == null) throw new IllegalStateException("DynamoDB Local has no network connector to bind to 127.0.0.1");
    LoopbackOnly guard = new LoopbackOnly(connector);
    Handler dynamoDb = server.getHandler();
    server.setHandler(guard);
    guard.setHandler(dynamoDb);
    WriteAheadLog.install(proxy);

    Thread watchdog = new Thread(() -> {
      try {
        while (System.in.read() != -1) {}
      } catch (Exception ignored) {
        // A broken pipe means the parent is gone too.
      }
      try {
        proxy.stop();
      } catch (Exception ignored) {
        // Exiting anyway.
      } finally {
        removeOwnedTmpdir();
        Runtime.getRuntime().halt(0);
      }
    }, "perdure-parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();

    proxy.start();
    System.out.println("PERDURE_DYNAMODB_READY port=" + connector.getLocalPort());
    System.out.flush();
  }

  private static void removeOwnedTmpdir() {
    String owned = System.getProperty("perdure.ownedTmpdir");
    if (owned == null || owned.isEmpty()) return;
    try (Stream<Path> paths = Files.walk(Paths.get(owned))) {
      paths.sorted(Comparator.reverseOrder()).forEach((path) -> path.toFile().delete());
    } catch (IOException ignored) {
      // Already gone, or the Node side removes it.
    }
  }

  /**
   * DynamoDB Local keeps each database in SQLite with SQLite's defaults: a rollback journal, synced to disk
   * at every commit (about 12 ms on this project's machine), behind one thread, so a table on disk takes
   * about 80 writes a second. This switches each database to a write-ahead log synced at checkpoints
   * (`journal_mode=WAL`, `synchronous=NORMAL`): a committed write survives the process being killed (the log
   * is written before the write is acknowledged); a power cut may lose the last writes but never corrupts
   * the database. DynamoDB Local opens a database on the first request for its credentials and region; the
   * map of them is replaced by one that tunes each database as it is added.
   */
  static final class WriteAheadLog extends HashMap<Object, Object> {
    static void install(DynamoDBProxyServer proxy) throws ReflectiveOperationException {
      Object serverHandler = read(DynamoDBProxyServer.class, "serverHandler", proxy);
      Object requestHandler = read(AbstractLocalDynamoDBServerHandler.class, "primaryHandler", serverHandler);
      Field handlers = requestHandler.getClass().getDeclaredField("dbRequestHandlers");
      handlers.setAccessible(true);
      WriteAheadLog tuning = new WriteAheadLog();
      tuning.putAll((Map<?, ?>) handlers.get(requestHandler));
      handlers.set(requestHandler, tuning);
    }

    @Override
    public Object put(Object key, Object client) {
      try {
        Object access = read(client.getClass(), "dbAccess", client);
        if (access instanceof SQLiteDBAccess) {
          SQLiteQueue queue = (SQLiteQueue) read(SQLiteDBAccess.class, "queue", access);
          queue.execute(new SQLiteJob<Object>() {
            @Override
            protected Object job(SQLiteConnection connection) throws SQLiteException {
              connection.exec("PRAGMA journal_mode=WAL");
              connection.exec("PRAGMA synchronous=NORMAL");
              return null;
            }
          }).complete();
        }
      } catch (ReflectiveOperationException | RuntimeException error) {
        System.err.println("perdure: could not switch a DynamoDB Local database to a write-ahead log (it stays slower): " + error);
      }
      return super.put(key, client);
    }

    private static Object read(Class<?> owner, String name, Object target) throws ReflectiveOperationException {
      Field field = owner.getDeclaredField(name);
      field.setAccessible(true);
      return field.get(target);
    }
  }

  /** Refuses what is not a program on this machine talking to 127.0.0.1 (see the class comment). */
  static final class LoopbackOnly extends Handler.Wrapper {
    private final ServerConnector connector;

    LoopbackOnly(ServerConnector connector) {
      this.connector = connector;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      int port = connector.getLocalPort();
      List<String> hosts = request.getHeaders().getValuesList(HttpHeader.HOST);
      String host = hosts.size() == 1 ? hosts.get(0).toLowerCase(Locale.ROOT) : "";
      boolean ownHost = host.equals("127.0.0.1:" + port) || host.equals("localhost:" + port) || host.equals("[::1]:" + port);
      boolean fromBrowser = false;
      for (HttpField field : request.getHeaders()) {
        String name = field.getName().toLowerCase(Locale.ROOT);
        if (name.equals("origin") || name.startsWith("sec-fetch-")) fromBrowser = true;
      }
      if (!ownHost || fromBrowser) {
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        Response.writeError(request, response, callback, 403, ownHost ? "The local emulators answer programs (the AWS SDK), not web pages." : "This server answers only to 127.0.0.1, localhost or [::1] with its port.");
        return true;
      }
      return super.handle(request, response, callback);
    }
  }
}
