import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { WatchPage, watchedChatId } from "./Watch";
import "./styles.css";

/** `#/watch/<chatId>` shows the read-only viewer of a chat instead of the app. */
function Root() {
  const [watched, setWatched] = useState(watchedChatId);
  useEffect(() => {
    const onHash = () => setWatched(watchedChatId());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return watched ? <WatchPage key={watched} chatId={watched} /> : <App />;
}

// No StrictMode: its doubled effects would resume the stream twice in
// development (a known useChat issue with `resume`), which hides real bugs.
createRoot(document.getElementById("root")!).render(<Root />);
