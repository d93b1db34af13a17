/**
 * The example provider `registry.terraform.io/rpcplugin/example`: key/value
 * entries kept as JSON files in a directory.
 *
 * - provider `example`: `directory` (required), where the entries live,
 *   relative to Terraform's working directory;
 * - resource `example_entry`: `name` (required; a new name replaces the
 *   entry), `value` (required), `description` (optional), and, set by the
 *   provider, `id` (the name) and `revision` (1 when created, +1 on every
 *   update, unknown in a plan that changes the entry); import by name;
 *   edits and deletions made to the file outside Terraform show up in the next
 *   plan;
 * - data source `example_entry`: reads one entry by `name`.
 *
 * An entry `greeting` is the file `<directory>/greeting.json`:
 * `{"value":"hello","description":null,"revision":1}`.
 *
 * @module
 */

import {
  DiagnosticsError,
  errorDiagnostic,
  type ObjectValue,
  type ProviderSpec,
  type ResourceType,
  UNKNOWN,
  type Value,
} from "./tfplugin6/mod.ts";
import type { Diagnostic } from "./gen/tfplugin6/tfplugin6_pb.ts";

/** The provider's source address, as `required_providers`, `dev_overrides` and `TF_REATTACH_PROVIDERS` name it. */
export const PROVIDER_ADDRESS = "registry.terraform.io/rpcplugin/example";

/** What ConfigureProvider makes: the entries' directory. */
export interface EntryStore {
  /** The directory, as configured (relative to the working directory, or absolute). */
  readonly dir: string;
}

/** What an entry's file holds. */
interface EntryFile {
  value: string;
  description: string | null;
  revision: number;
}

/** Entry names are file names: letters, digits, `_`, `-`, `.`, not starting with a dot. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

function str(v: Value): string | null {
  return typeof v === "string" ? v : null;
}

function validateName(config: ObjectValue): Diagnostic[] {
  const name = config.name;
  if (typeof name !== "string" || NAME.test(name)) return [];
  return [
    errorDiagnostic(
      "Invalid entry name",
      `The name ${JSON.stringify(name)} cannot be a file name: use 1-128 letters, digits, ` +
        `"_", "-" or ".", not starting with ".".`,
      ["name"],
    ),
  ];
}

function pathOf(store: EntryStore, name: string): string {
  return `${store.dir.replace(/\/+$/, "")}/${name}.json`;
}

/** Explains a permission failure: the launcher's flags decide which directories the provider may use. */
function fsError(err: unknown, what: string, path: string): never {
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    throw DiagnosticsError.of(
      `Cannot ${what} ${path}`,
      `${(err as Error).message}. The provider may only use the directories its launcher grants ` +
        `(--allow-read/--allow-write: Terraform's working directory and the temp directory); ` +
        `keep "directory" inside the working directory.`,
    );
  }
  throw DiagnosticsError.of(`Cannot ${what} ${path}`, (err as Error).message);
}

// File I/O is synchronous: entries are small files, read faster than an async op round trip.
function readEntry(store: EntryStore, name: string): EntryFile | null {
  const path = pathOf(store, name);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    fsError(err, "read", path);
  }
  let parsed: Partial<EntryFile>;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw DiagnosticsError.of(`The entry file ${path} is not JSON`, (err as Error).message);
  }
  return {
    value: typeof parsed.value === "string" ? parsed.value : "",
    description: typeof parsed.description === "string" ? parsed.description : null,
    revision: typeof parsed.revision === "number" ? parsed.revision : 0,
  };
}

function writeEntry(store: EntryStore, name: string, entry: EntryFile): void {
  const path = pathOf(store, name);
  const tmp = `${path}.tmp`;
  try {
    Deno.mkdirSync(store.dir, { recursive: true });
    Deno.writeTextFileSync(tmp, JSON.stringify(entry) + "\n");
    Deno.renameSync(tmp, path);
  } catch (err) {
    fsError(err, "write", path);
  }
}

function removeEntry(store: EntryStore, name: string): void {
  const path = pathOf(store, name);
  try {
    Deno.removeSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    fsError(err, "remove", path);
  }
}

function stateOf(name: string, entry: EntryFile): ObjectValue {
  return {
    id: name,
    name,
    value: entry.value,
    description: entry.description,
    revision: entry.revision,
  };
}

/** The managed resource `example_entry`. */
export const entryResource: ResourceType<EntryStore> = {
  schema: {
    version: 0,
    description: "A key/value entry, kept as `<directory>/<name>.json`.",
    attributes: {
      id: { type: "string", computed: true, keepOnUpdate: true, description: "The entry's name." },
      name: {
        type: "string",
        required: true,
        requiresReplace: true,
        description: "The entry's name (its file name); changing it replaces the entry.",
      },
      value: { type: "string", required: true, description: "The value." },
      description: { type: "string", optional: true, description: "What the entry is for." },
      revision: {
        type: "number",
        computed: true,
        description: "1 when created, one more on every update.",
      },
    },
  },
  identity: {
    schema: {
      version: 0,
      attributes: {
        name: { type: "string", requiredForImport: true, description: "The entry's name." },
      },
    },
    of: (state) => ({ name: state.name }),
    importId: (identity) => str(identity.name) ?? "",
  },
  validate: validateName,
  create(planned, { client }) {
    const name = planned.name as string;
    if (readEntry(client, name)) {
      throw DiagnosticsError.of(
        "Entry already exists",
        `${pathOf(client, name)} exists already: import it (terraform import <address> ${name}) ` +
          `or pick another name.`,
        ["name"],
      );
    }
    const entry = {
      value: planned.value as string,
      description: str(planned.description),
      revision: 1,
    };
    writeEntry(client, name, entry);
    return stateOf(name, entry);
  },
  read(state, { client }) {
    const name = state.name as string;
    const entry = readEntry(client, name);
    return entry ? stateOf(name, entry) : null;
  },
  update(prior, planned, { client }) {
    const name = planned.name as string;
    const now = readEntry(client, name);
    const entry = {
      value: planned.value as string,
      description: str(planned.description),
      revision:
        Math.max(now?.revision ?? 0, typeof prior.revision === "number" ? prior.revision : 0) + 1,
    };
    writeEntry(client, name, entry);
    return stateOf(name, entry);
  },
  delete(prior, { client }) {
    removeEntry(client, prior.name as string);
  },
  importState(id, { client }) {
    const problems = validateName({ name: id });
    if (problems.length) {
      throw new DiagnosticsError(problems.map((d) => ({ ...d, attribute: undefined })));
    }
    const entry = readEntry(client, id);
    if (!entry) {
      throw DiagnosticsError.of(
        "Cannot import non-existent remote object",
        `There is no entry ${JSON.stringify(id)} (${pathOf(client, id)} does not exist).`,
      );
    }
    return stateOf(id, entry);
  },
};

/** The provider. */
export const exampleProvider: ProviderSpec<EntryStore> = {
  schema: {
    description: "Key/value entries kept as JSON files in a directory.",
    attributes: {
      directory: {
        type: "string",
        required: true,
        description: "Where the entries are kept, relative to the working directory.",
      },
    },
  },
  validate(config) {
    const dir = config.directory;
    if (dir === UNKNOWN || dir === null) return [];
    if (typeof dir !== "string" || dir.trim() === "" || dir.includes("\0")) {
      return [
        errorDiagnostic(
          "Invalid directory",
          `"directory" must name a directory (it was ${JSON.stringify(dir)}).`,
          ["directory"],
        ),
      ];
    }
    return [];
  },
  configure(config) {
    return { dir: config.directory as string };
  },
  resources: { example_entry: entryResource },
  dataSources: {
    example_entry: {
      schema: {
        description: "Reads one entry.",
        attributes: {
          name: { type: "string", required: true, description: "The entry's name." },
          id: { type: "string", computed: true, description: "The entry's name." },
          value: { type: "string", computed: true, description: "The value." },
          description: { type: "string", computed: true, description: "What the entry is for." },
          revision: { type: "number", computed: true, description: "The entry's revision." },
        },
      },
      validate: validateName,
      read(config, { client }) {
        const name = config.name as string;
        const entry = readEntry(client, name);
        if (!entry) {
          throw DiagnosticsError.of(
            "No such entry",
            `There is no entry ${JSON.stringify(name)} (${pathOf(client, name)} does not exist).`,
            ["name"],
          );
        }
        return stateOf(name, entry);
      },
    },
  },
};
