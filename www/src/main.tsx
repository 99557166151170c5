import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./styles.css";

// No StrictMode: its doubled effects would resume the stream twice in
// development (a known useChat issue with `resume`), which hides real bugs.
createRoot(document.getElementById("root")!).render(<App />);
