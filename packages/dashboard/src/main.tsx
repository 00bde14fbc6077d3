import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { noteUserInput } from "./api.ts";
import { App } from "./app.tsx";
import "./styles.css";

// Input marks the session as in use (api.ts); polling alone does not.
for (const type of ["pointerdown", "keydown"] as const)
  window.addEventListener(type, noteUserInput, { capture: true, passive: true });

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
