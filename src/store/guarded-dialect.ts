import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { DatabaseUnavailable, type DatabaseOutages } from './outage.js';

// Every query of every repository passes through Kysely's Driver and DatabaseConnection, so a
// wrapper around them turns "the database does not answer" into DatabaseUnavailable in one
// place, for both dialects, without any call site having to remember.

/** Turns a driver's failures into DatabaseUnavailable where they mean the database does not answer. */
export class QueryGuard {
  constructor(
    private readonly doesNotAnswer: (error: unknown) => boolean,
    private readonly outages: DatabaseOutages,
  ) {}

  /** The error to throw instead of `error`: DatabaseUnavailable, or `error` itself. */
  translated(error: unknown): unknown {
    if (error instanceof DatabaseUnavailable || !this.doesNotAnswer(error)) return error;
    this.outages.failed(error);
    return new DatabaseUnavailable(error);
  }

  /** Runs a query: its answer proves that the database answers. */
  async query<T>(run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.outages.answered();
      return result;
    } catch (error) {
      throw this.translated(error);
    }
  }

  /** Runs a step that is not a query (taking a connection): it may fail, but proves nothing. */
  async step<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.translated(error);
    }
  }
}

export function guardedDialect(dialect: Dialect, guard: QueryGuard): Dialect {
  return {
    createDriver: (): Driver => new GuardedDriver(dialect.createDriver(), guard),
    createQueryCompiler: (): QueryCompiler => dialect.createQueryCompiler(),
    createAdapter: (): DialectAdapter => dialect.createAdapter(),
    createIntrospector: (db: Kysely<any>): DatabaseIntrospector => dialect.createIntrospector(db),
  };
}

class GuardedConnection implements DatabaseConnection {
  constructor(
    /** The driver's own connection: the driver's methods need it, not this wrapper. */
    readonly inner: DatabaseConnection,
    private readonly guard: QueryGuard,
  ) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    return this.guard.query(() => this.inner.executeQuery<R>(compiledQuery));
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(compiledQuery, chunkSize);
    } catch (error) {
      throw this.guard.translated(error);
    }
  }
}

function innerOf(connection: DatabaseConnection): DatabaseConnection {
  if (!(connection instanceof GuardedConnection)) throw new TypeError('not a connection of this driver');
  return connection.inner;
}

class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly guard: QueryGuard,
  ) {}

  init(): Promise<void> {
    return this.guard.step(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new GuardedConnection(await this.guard.step(() => this.inner.acquireConnection()), this.guard);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.guard.query(() => this.inner.beginTransaction(innerOf(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.guard.query(() => this.inner.commitTransaction(innerOf(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.guard.query(() => this.inner.rollbackTransaction(innerOf(connection)));
  }

  savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    const savepoint = supported(this.inner.savepoint, 'savepoint');
    return this.guard.query(() => savepoint.call(this.inner, innerOf(connection), name, compile));
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    const rollback = supported(this.inner.rollbackToSavepoint, 'rollbackToSavepoint');
    return this.guard.query(() => rollback.call(this.inner, innerOf(connection), name, compile));
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    const release = supported(this.inner.releaseSavepoint, 'releaseSavepoint');
    return this.guard.query(() => release.call(this.inner, innerOf(connection), name, compile));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(innerOf(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** Savepoints are optional in Kysely's Driver: refuse as Kysely does when the driver has none. */
function supported<T>(method: T | undefined, name: string): T {
  if (method === undefined) throw new Error(`The \`${name}\` method is not supported by this driver`);
  return method;
}
