// The window's entry: picks the channel to the gateway (Electron's preload or the web host) and renders.
import './style.css';

import { render } from 'preact';

import { openChannel } from './client.js';
import { StatusView } from './status-view.js';

render(<StatusView channel={openChannel()} />, document.getElementById('app')!);
