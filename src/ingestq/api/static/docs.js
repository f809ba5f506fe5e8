// The API reference, drawn from /openapi.json with nothing fetched from elsewhere.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const parts = schema.$ref.replace(/^#\//, "").split("/");
    return parts.reduce((obj, key) => obj[key], root);
  }
  return schema;
}

function typeOf(schema, root) {
  schema = resolve(schema, root) || {};
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, root)).join(" | ");
  if (schema.type === "array") return typeOf(schema.items, root) + "[]";
  return schema.type || schema.title || "object";
}

function params(op, root) {
  if (!op.parameters || !op.parameters.length) return null;
  const rows = op.parameters.map((p) =>
    el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
       el("td", {}, typeOf(p.schema, root)), el("td", {}, p.required ? "required" : ""),
       el("td", {}, (p.description || (p.schema && p.schema.description) || ""))));
  return el("table", {}, el("thead", {}, el("tr", {}, ...["name", "in", "type", "", ""].map(
    (h) => el("th", {}, h)))), el("tbody", {}, ...rows));
}

function body(op, root) {
  if (!op.requestBody) return null;
  const parts = Object.entries(op.requestBody.content || {}).map(([type, media]) => {
    const schema = resolve(media.schema, root) || {};
    const shown = JSON.stringify(schema.properties || schema, null, 2);
    return el("div", {}, el("p", {}, "Body: ", el("code", {}, type)), el("pre", {}, shown));
  });
  return el("div", {}, ...parts);
}

function responses(op) {
  const items = Object.entries(op.responses || {}).map(([code, r]) =>
    el("li", {}, el("code", {}, code), " ", r.description || ""));
  return el("ul", {}, ...items);
}

async function main() {
  const root = document.getElementById("docs");
  let spec;
  try {
    spec = await (await fetch("/openapi.json")).json();
  } catch (err) {
    root.textContent = "The schema could not be loaded: " + err;
    return;
  }
  root.replaceChildren(el("p", {}, spec.info.description || ""));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      root.append(el("section", {class: "op"},
        el("h2", {}, el("span", {class: "method " + method}, method.toUpperCase()), " ",
           el("code", {}, path)),
        el("p", {}, el("strong", {}, op.summary || "")),
        el("p", {class: "desc"}, op.description || ""),
        params(op, spec), body(op, spec), responses(op)));
    }
  }
}

main();
