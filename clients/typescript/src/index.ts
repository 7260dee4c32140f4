// The generated clients and types (never edited by hand), and the thin hand-written layer beside them.
export * from "./client.generated.js";
export * from "./executions.js";
export * from "./fetch.js";
export * from "./problem.js";
