import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { Baseline } from "../shared/baseline.js";

createRoot(document.getElementById("root")).render(createElement(Baseline, { label: "vite" }));
