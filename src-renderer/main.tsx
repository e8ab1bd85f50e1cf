// The window's entry: picks the channel to the gateway (Electron's preload or the web host) and renders.
import './style.css';

import { render } from 'preact';

import { App } from './app.js';
import { openChannel } from './client.js';

render(<App channel={openChannel()} />, document.getElementById('app')!);
