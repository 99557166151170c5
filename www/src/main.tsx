import { createRoot } from "react-dom/client";
import { App } from "./App";
import { WatchPage, watchedChatId } from "./Watch";
import "./styles.css";

// No StrictMode: its doubled effects would resume the stream twice in
// development (a known useChat issue with `resume`), which hides real bugs.
// `#/watch/<chatId>` opens the read-only viewer of a chat instead of the app.
const watched = watchedChatId();
createRoot(document.getElementById("root")!).render(watched ? <WatchPage chatId={watched} /> : <App />);
